// Risk Monitor support console: the case queue's live updates. Written for
// this project (MIT); no library. A region marked `data-live` is refreshed
// from the server whenever the live feed (graphql-transport-ws at
// /graphql/ws, the page's own origin and session) reports a case raised or
// changed. Without JavaScript the page still works: reload to see new cases.
(() => {
  'use strict';
  const region = document.querySelector('[data-live]');
  if (!region || !('WebSocket' in window)) return;
  const status = document.getElementById('live-status');
  const say = (text) => { if (status) status.textContent = text; };

  let busy = false;
  let again = null;
  // Fetches this same page and swaps in its live region: one request per
  // burst of events, however many arrive while it runs.
  async function refresh(message) {
    if (busy) { again = message; return; }
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: 'same-origin',
        headers: { Accept: 'text/html' },
      });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), 'text/html');
        const fresh = page.querySelector('[data-live]');
        if (fresh) {
          // A static copy first: adopting a node removes it from the live
          // `childNodes` list, which would skip every other one.
          const nodes = Array.from(fresh.childNodes);
          region.replaceChildren(...nodes.map((node) => document.adoptNode(node)));
          say(message);
        }
      } else {
        say('A new event arrived, but the queue could not be reloaded (HTTP ' + response.status + '). Reload the page.');
      }
    } catch (error) {
      say('A new event arrived, but the queue could not be reloaded. Reload the page.');
    } finally {
      busy = false;
      if (again !== null) { const next = again; again = null; refresh(next); }
    }
  }

  const subscriptions = {
    raised: 'subscription { alertRaised(minLevel: LOW) { id riskLevel } }',
    changed: 'subscription { alertChanged { id status } }',
  };

  function connect(delay) {
    const scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + window.location.host + '/graphql/ws', 'graphql-transport-ws');
    socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
    socket.addEventListener('message', (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message.type === 'connection_ack') {
        delay = 1000;
        for (const [id, query] of Object.entries(subscriptions)) {
          socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
        }
        region.setAttribute('data-live-ready', 'true');
        say('Live: new and changed cases appear here without reloading.');
      } else if (message.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      } else if (message.type === 'next') {
        const data = (message.payload && message.payload.data) || {};
        if (data.alertRaised) {
          refresh('New case #' + data.alertRaised.id + ' (' + data.alertRaised.riskLevel.toLowerCase() + ') was raised.');
        } else if (data.alertChanged) {
          refresh('Case #' + data.alertChanged.id + ' is now ' + data.alertChanged.status.toLowerCase() + '.');
        }
      }
    });
    socket.addEventListener('close', () => {
      region.removeAttribute('data-live-ready');
      say('Live updates paused; reconnecting…');
      window.setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
    });
  }
  connect(1000);
})();
