// Set-password page: sends the form through POST /auth/setpassword and says
// what happened without leaving the page. Without JavaScript the form posts
// to the page itself and the server answers with the same messages.
(function () {
  'use strict';
  var form = document.getElementById('setpassword-form');
  if (!form || !window.fetch || !window.JSON) {
    return;
  }
  var input = document.getElementById('password');
  var error = document.getElementById('error');
  var status = document.getElementById('status');
  var title = document.getElementById('title');
  var button = form.querySelector('button[type="submit"]');
  var main = document.querySelector('main');

  function messageOf(body) {
    var issue = body && body.issue && body.issue[0];
    if (!issue) {
      return { text: '', expr: '' };
    }
    return {
      text: (issue.details && issue.details.text) || issue.diagnostics || '',
      expr: (issue.expression && issue.expression[0]) || ''
    };
  }

  // finish replaces the form with a final message (done, or a dead link).
  function finish(state, heading, text) {
    form.hidden = true;
    main.setAttribute('data-state', state);
    status.className = 'status ' + state;
    title.textContent = heading;
    document.title = heading + ' · Roster';
    status.textContent = text;
    status.focus();
  }

  function fail(text) {
    error.textContent = text;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    error.textContent = '';
    input.removeAttribute('aria-invalid');
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    fetch(new URL(form.getAttribute('data-api'), document.baseURI).toString(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify({
        id: form.getAttribute('data-id'),
        secret: form.getAttribute('data-secret'),
        password: input.value
      }),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer'
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (body) {
        if (resp.ok) {
          finish('done', 'Password set', 'Your password has been set. You can now sign in with your new password.');
          return;
        }
        var m = messageOf(body);
        if (m.expr === 'secret') {
          finish('invalid', 'This link cannot be used', m.text);
        } else {
          fail(m.text || 'Something went wrong. Please try again.');
        }
      });
    }).catch(function () {
      fail('Could not reach the server. Check your connection and try again.');
    }).then(function () {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    });
  });
})();
