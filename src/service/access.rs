//! API keys and console sessions (SPEC §9): creating, listing and revoking
//! keys; finding the actor behind a key or a session; signing in and out.
//!
//! A key is `rm_` and 64 hex digits (256 random bits); a session token is the
//! same shape with `rs_`. Only the SHA-256 of either is stored, so a copy of
//! the database reveals no usable credential; the hash is what requests are
//! looked up by.

use chrono::{DateTime, Utc};
use entity::api_keys;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::{Digest, Sha256};

use crate::domain::{Actor, Caller, Credential, Role, role_name};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::service::audit::{self, Action};
use crate::store::access as store;

/// How an API key starts.
pub const KEY_PREFIX: &str = "rm_";
/// How a session token starts.
pub const SESSION_PREFIX: &str = "rs_";
/// Characters of a key shown by `keys list`: the prefix and 8 hex digits.
const SHOWN: usize = 11;

/// A key as `keys list` shows it (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Who holds it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its first characters.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_keys::Model> for KeyInfo {
    fn from(key: api_keys::Model) -> Self {
        Self {
            name: key.name,
            role: key.role,
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just created: the only time its secret is seen.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The key's record.
    pub info: KeyInfo,
    /// The key, to hand to its holder.
    pub secret: String,
}

fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a key or token.
fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` could be a key or token of ours (so garbage is refused
/// without a database round trip).
fn well_formed(secret: &str, prefix: &str) -> bool {
    secret
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A key's name: 1 to 100 letters, digits, `.`, `-`, `_` or `@`.
fn key_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(AppError::bad_input(
            "name",
            "must be 1 to 100 letters, digits, '.', '-', '_' or '@'",
        ))
    }
}

/// Creates a key named `name` with `role`.
pub async fn create_key(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    by: &Caller,
    now: DateTime<Utc>,
) -> AppResult<NewKey> {
    let name = key_name(name)?;
    let secret = random_secret(KEY_PREFIX);
    let txn = db.begin().await?;
    let key = store::insert_key(&txn, &name, role, &secret[..SHOWN], &digest(&secret), now)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                AppError::bad_input("name", format!("a key named {name:?} already exists"))
            } else {
                error.into()
            }
        })?;
    let action = Action {
        detail: Some(format!("role {}", role_name(role))),
        ..Action::ok("key.create", Some(("key", name.clone())))
    };
    audit::record(&txn, by, action, now).await?;
    txn.commit().await?;
    Ok(NewKey {
        info: key.into(),
        secret,
    })
}

/// Whether some key could sign a request in.
pub async fn any_live_key(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(store::any_live_key(db).await?)
}

/// Every key, by name.
pub async fn list_keys(db: &DatabaseConnection) -> AppResult<Vec<KeyInfo>> {
    Ok(store::keys(db)
        .await?
        .into_iter()
        .map(KeyInfo::from)
        .collect())
}

/// Revokes the key named `name` and ends its sessions.
pub async fn revoke_key(
    db: &DatabaseConnection,
    name: &str,
    by: &Caller,
    now: DateTime<Utc>,
) -> AppResult<KeyInfo> {
    let txn = db.begin().await?;
    let key = store::key_named(&txn, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no key named {name:?}")))?;
    store::revoke_key(&txn, key.id, now).await?;
    audit::record(
        &txn,
        by,
        Action::ok("key.revoke", Some(("key", key.name.clone()))),
        now,
    )
    .await?;
    txn.commit().await?;
    let revoked_at = key.revoked_at.or(Some(now));
    Ok(KeyInfo {
        revoked_at,
        ..key.into()
    })
}

fn actor_of(key: &api_keys::Model, credential: Credential) -> Actor {
    Actor {
        name: key.name.clone(),
        role: key.role,
        credential,
    }
}

/// The actor holding the live key `secret`, if it is one.
pub async fn key_actor(db: &DatabaseConnection, secret: &str) -> AppResult<Option<Actor>> {
    if !well_formed(secret, KEY_PREFIX) {
        return Ok(None);
    }
    Ok(store::live_key(db, &digest(secret))
        .await?
        .map(|key| actor_of(&key, Credential::Key)))
}

/// A session just opened.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The person.
    pub actor: Actor,
    /// The cookie's token.
    pub token: String,
    /// When it ends by itself.
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for whoever holds the live key `secret`, for
/// `lifetime`; `UNAUTHENTICATED` (and an audit entry) for anything else.
pub async fn sign_in(
    db: &DatabaseConnection,
    secret: &str,
    lifetime: chrono::Duration,
    request_id: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<SignedIn> {
    let key = match well_formed(secret.trim(), KEY_PREFIX) {
        true => store::live_key(db, &digest(secret.trim())).await?,
        false => None,
    };
    let Some(key) = key else {
        let caller = Caller {
            actor: Actor {
                name: "unknown".to_owned(),
                role: Role::Viewer,
                credential: Credential::Session,
            },
            request_id,
        };
        let refused = Action::refused("session.sign_in", None, &AppError::Unauthenticated);
        audit::record_refusal(db, &caller, refused, now).await;
        return Err(AppError::Unauthenticated);
    };
    let token = random_secret(SESSION_PREFIX);
    let expires_at = now + lifetime;
    let actor = actor_of(&key, Credential::Session);
    let caller = Caller {
        actor: actor.clone(),
        request_id,
    };
    let txn = db.begin().await?;
    store::insert_session(&txn, key.id, &digest(&token), now, expires_at).await?;
    audit::record(
        &txn,
        &caller,
        Action::ok("session.sign_in", Some(("key", key.name.clone()))),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(SignedIn {
        actor,
        token,
        expires_at,
    })
}

/// The person behind the live session `token` at `now`, if any.
pub async fn session_actor(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<Actor>> {
    if !well_formed(token, SESSION_PREFIX) {
        return Ok(None);
    }
    Ok(store::live_session(db, &digest(token), now)
        .await?
        .map(|(_, key)| actor_of(&key, Credential::Session)))
}

/// Ends the session `token`.
pub async fn sign_out(
    db: &DatabaseConnection,
    token: &str,
    by: &Caller,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if !well_formed(token, SESSION_PREFIX) {
        return Ok(());
    }
    let txn = db.begin().await?;
    store::revoke_session(&txn, &digest(token), now).await?;
    audit::record(&txn, by, Action::ok("session.sign_out", None), now).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_256_random_bits_behind_a_recognisable_prefix() {
        let a = random_secret(KEY_PREFIX);
        let b = random_secret(KEY_PREFIX);
        assert_ne!(a, b);
        assert!(well_formed(&a, KEY_PREFIX), "{a}");
        assert_eq!(a.len(), 3 + 64);
        assert!(!well_formed(&a, SESSION_PREFIX));
        assert!(!well_formed("rm_short", KEY_PREFIX));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a, "only the hash is stored");
    }

    #[test]
    fn key_names_are_short_plain_words() {
        assert_eq!(
            key_name(" ann@example ").ok(),
            Some("ann@example".to_owned())
        );
        assert!(key_name("").is_err());
        assert!(key_name("a b").is_err());
        assert!(key_name(&"x".repeat(101)).is_err());
    }
}
