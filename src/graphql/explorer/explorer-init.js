// Risk Monitor: starts the vendored GraphiQL explorer.
// Served as /graphiql/assets/explorer-init.js (a file rather than an inline
// <script>, so the page works under `script-src 'self'`). It expects the UMD
// globals React, ReactDOM and GraphiQL from the scripts loaded before it, and
// talks only to the same-origin endpoints /graphql and /graphql/ws.
(function () {
  'use strict';

  var DEFAULT_QUERY = [
    '# Risk Monitor: subscribers most likely to fail a payment.',
    '# Run: the ▶ button or Ctrl-Enter. Docs: the book icon.',
    'query RiskyUsers {',
    '  riskyUsers(first: 10) {',
    '    totalCount',
    '    edges {',
    '      node {',
    '        user { id name email }',
    '        riskScore',
    '        riskLevel',
    '        patterns',
    '      }',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  // Subscriptions go over a WebSocket to /graphql/ws on the same host
  // (wss: when the page came over https:), through the graphql-ws client
  // that graphiql.min.js bundles. The browser sends the session cookie with
  // the upgrade, which signs the socket in.
  var socketScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: socketScheme + '//' + window.location.host + '/graphql/ws'
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: false,
      isHeadersEditorEnabled: true
    })
  );
})();
