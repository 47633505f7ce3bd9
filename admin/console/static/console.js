// The admin console's script. Every page works without it; with it, an
// action is confirmed in a dialog and done in place (the members table is
// refreshed, not the page), a fresh link can be copied, and a bulk run
// shows its progress as it goes.
(function () {
  'use strict';

  var statusBox = document.getElementById('status');
  var alertBox = document.getElementById('error');

  function csrf() {
    var f = document.querySelector('input[name="csrf"]');
    return f ? f.value : '';
  }
  function say(msg) {
    if (alertBox) alertBox.textContent = '';
    if (statusBox) statusBox.textContent = msg;
  }
  function complain(msg) {
    if (statusBox) statusBox.textContent = '';
    if (alertBox) alertBox.textContent = msg;
  }
  function copy(input, done) {
    input.focus();
    input.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  }

  // ---- actions, confirmed in a dialog ----
  var dialog = document.getElementById('confirm');
  var current = null; // the action link being confirmed
  var reloadOnClose = false; // a member's page, after a link was made

  function el(id) { return document.getElementById(id); }

  function members() { return el('members'); }

  // refreshTable reads the table again (the same page, filters and order)
  // and puts focus back on the row acted on, or on the count.
  function refreshTable(memberId) {
    var box = members();
    if (!box) return Promise.resolve();
    var url = box.getAttribute('data-refresh');
    url += (url.indexOf('?') >= 0 ? '&' : '?') + 'fragment=table';
    return fetch(url, { headers: { 'Accept': 'text/html' } }).then(function (r) {
      if (!r.ok) throw new Error('The table could not be read again; reload the page.');
      return r.text();
    }).then(function (html) {
      box.innerHTML = html;
      var row = memberId && el('m-' + memberId);
      var target = row ? row.querySelector('summary') : el('count');
      if (target) {
        if (!row) target.setAttribute('tabindex', '-1');
        target.focus();
      }
    });
  }

  function openConfirm(link) {
    current = link;
    var action = link.getAttribute('data-action');
    el('confirm-title').textContent = link.textContent;
    el('confirm-text').textContent = link.getAttribute('data-confirm');
    el('confirm-email').hidden = action !== 'email';
    el('confirm-email-input').value = '';
    el('confirm-link').hidden = true;
    el('confirm-error').textContent = '';
    var ok = el('confirm-ok');
    ok.hidden = false;
    ok.disabled = false;
    ok.textContent = link.getAttribute('data-button');
    ok.className = link.classList.contains('danger') ? 'danger' : '';
    el('confirm-cancel').textContent = 'Cancel';
    dialog.showModal();
    // Focus goes to the question, not a button: the key that opened the
    // dialog would otherwise go on to press it.
    el('confirm-title').focus();
  }

  function run() {
    var link = current;
    var action = link.getAttribute('data-action');
    var ok = el('confirm-ok');
    var body = new URLSearchParams();
    body.set('csrf', csrf());
    if (action === 'email') body.set('email', el('confirm-email-input').value);
    ok.disabled = true;
    var row = link.closest('tr');
    var memberId = row ? row.getAttribute('data-member') : null;
    fetch(link.getAttribute('href'), {
      method: 'POST',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf() },
      body: body
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, message: 'Something went wrong; try again.' }; });
    }).then(function (out) {
      ok.disabled = false;
      if (!out.ok) {
        el('confirm-error').textContent = out.message;
        return;
      }
      say(out.message);
      if (out.link) {
        var input = el('confirm-link-input');
        input.value = out.link;
        el('confirm-link').hidden = false;
        el('confirm-text').textContent = out.message;
        ok.hidden = true;
        el('confirm-cancel').textContent = 'Close';
        copy(input, function (copied) {
          el('confirm-text').textContent = out.message + (copied ? ' It is copied to your clipboard.' : ' Copy it from the box below.');
        });
      } else {
        dialog.close();
      }
      reloadOnClose = !members();
      if (members()) {
        refreshTable(memberId).catch(function (e) { complain(e.message); });
      } else if (!out.link) {
        var back = action === 'remove' ? document.querySelector('.bar nav a') : null;
        window.location.assign(back ? back.href : window.location.pathname + '?notice=' + action);
      }
    }).catch(function () {
      ok.disabled = false;
      el('confirm-error').textContent = 'Roster did not answer; try again.';
    });
  }

  if (dialog && typeof dialog.showModal === 'function') {
    document.addEventListener('click', function (ev) {
      var link = ev.target.closest ? ev.target.closest('a.action') : null;
      if (!link) return;
      ev.preventDefault();
      var menu = link.closest('details');
      if (menu) menu.open = false;
      openConfirm(link);
    });
    dialog.querySelector('form').addEventListener('submit', function (ev) {
      if (ev.submitter && ev.submitter.id === 'confirm-cancel') return; // closes the dialog
      ev.preventDefault();
      run();
    });
    dialog.addEventListener('close', function () {
      if (reloadOnClose) {
        reloadOnClose = false;
        window.location.reload();
        return;
      }
      if (current && document.body.contains(current)) {
        var summary = current.closest('details') ? current.closest('details').querySelector('summary') : current;
        summary.focus();
      }
    });
  }

  // ---- a fresh link shown on its own page ----
  var fresh = el('fresh-link');
  if (fresh) {
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Copy link';
    button.className = 'secondary';
    fresh.parentNode.appendChild(button);
    button.addEventListener('click', function () {
      copy(fresh, function (copied) { say(copied ? 'The link is copied to your clipboard.' : 'Select the link and copy it.'); });
    });
  }

  // ---- a bulk run, with its progress ----
  var runForm = el('bulk-run');
  if (runForm && window.fetch && window.TextDecoder && window.ReadableStream) {
    runForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var submit = runForm.querySelector('button[type="submit"]');
      submit.disabled = true;
      var live = el('bulk-live');
      var bar = el('bulk-progress');
      var text = el('bulk-status');
      live.hidden = false;
      bar.focus();
      say('Inviting…');
      fetch(runForm.getAttribute('action'), {
        method: 'POST',
        headers: { 'Accept': 'application/x-ndjson, application/json', 'X-CSRF-Token': csrf() },
        body: new URLSearchParams(new FormData(runForm))
      }).then(function (r) {
        if (!r.ok) {
          return r.json().then(function (e) { throw new Error(e.message); }, function () { throw new Error('The run could not start.'); });
        }
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var pending = '';
        function handle(line) {
          if (!line) return;
          var e = JSON.parse(line);
          bar.max = e.total;
          bar.value = e.done;
          var pct = e.total ? Math.floor(e.done * 100 / e.total) : 100;
          text.textContent = e.done + ' of ' + e.total + ' rows (' + pct + ' %)';
          if (e.html) {
            el('bulk-result').innerHTML = e.html;
            say('Done: ' + e.total + ' rows.');
            var outcome = el('bulk-outcome');
            if (outcome) {
              outcome.setAttribute('tabindex', '-1');
              outcome.focus();
            }
          }
        }
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              handle(pending);
              return;
            }
            pending += decoder.decode(chunk.value, { stream: true });
            var lines = pending.split('\n');
            pending = lines.pop();
            lines.forEach(handle);
            return pump();
          });
        }
        return pump();
      }).catch(function (e) {
        submit.disabled = false;
        complain(e.message || 'The run stopped; the result lists what was done.');
      });
    });
  }
})();
