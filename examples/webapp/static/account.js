// The account page: its dates, and its sensitive action. Changing the
// email address needs a single-use MFA token with scope "change-email".
// The page gets one from the MFA API with a code or a passkey, then sends
// the change with the token in the X-Mfa-Auth-Token header.
'use strict';

// Dates read as in the MFA UI (mfahttp's ui.js), which formats them with
// the same options: in the browser's locale and time zone, e.g.
// "Nov 30, 2026" or "30 Nov 2026". The server writes each as a <time>
// element with its instant, and a plain date until this runs.
(function () {
  const dateOptions = { year: 'numeric', month: 'short', day: 'numeric' };
  const dateFormat = new Intl.DateTimeFormat(undefined, dateOptions);
  for (const t of document.querySelectorAll('time[datetime]')) {
    const d = new Date(t.dateTime);
    if (!isNaN(d)) t.textContent = dateFormat.format(d);
  }
})();

(function () {
  const form = document.getElementById('change-email');
  if (!form) return;
  const api = form.dataset.mfaApi;
  const errorBox = document.getElementById('change-error');
  const status = document.getElementById('change-status');
  const toggle = form.querySelector('[data-toggle]');
  let mode = 'totp';

  const active = () => form.querySelector(`.field[data-mode="${mode}"] input`);

  function say(el, msg) {
    el.textContent = '';
    if (msg) setTimeout(() => { el.textContent = msg; }, 30);
  }

  function fail(msg, input) {
    say(errorBox, msg);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      input.select();
    }
  }

  async function post(url, body, headers) {
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, headers),
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const e = new Error((data.error && data.error.message) || 'request failed');
      e.code = data.error && data.error.code;
      e.retryAfter = data.error && data.error.retryAfter;
      throw e;
    }
    return data;
  }

  function message(e) {
    switch (e.code) {
      case 'mfa_invalid_code':
        return mode === 'recovery' ? 'That recovery code is not valid, or it has been used already.' : 'That code is not correct. Check the app and try again.';
      case 'mfa_code_reused':
        return 'That code has been used already. Wait for the next code in your app.';
      case 'mfa_passkey_refused':
        return 'This passkey was not accepted. Try again, or use a code instead.';
      case 'mfa_challenge_invalid':
        return 'The passkey request expired. Try again.';
      case 'passkey_unsupported':
        return 'This browser cannot use passkeys. Use a code instead, or another browser.';
      case 'passkey_cancelled':
        return 'The passkey request was cancelled or timed out. Try again when you are ready.';
      case 'mfa_rate_limited':
        return e.retryAfter ? `Too many failed attempts. Try again in ${e.retryAfter} seconds.` : 'Too many failed attempts.';
    }
    const m = e.message || 'Something went wrong.';
    return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
  }

  toggle.addEventListener('click', () => {
    mode = mode === 'totp' ? 'recovery' : 'totp';
    for (const f of form.querySelectorAll('.field[data-mode]')) {
      f.hidden = f.dataset.mode !== mode;
      f.querySelector('input').disabled = f.hidden;
    }
    toggle.textContent = mode === 'recovery' ? 'Use your authenticator app instead' : 'Use a recovery code instead';
    say(errorBox, '');
    active().focus();
  });

  for (const i of form.querySelectorAll('input')) {
    i.addEventListener('input', () => {
      i.removeAttribute('aria-invalid');
      if (i.inputMode === 'numeric') i.value = i.value.replace(/[^0-9]/g, '');
    });
    // A code pasted as "123 456" keeps its digits: the input is only as
    // long as a code, and the browser would cut the pasted text first.
    i.addEventListener('paste', (ev) => {
      if (i.inputMode !== 'numeric' || !ev.clipboardData) return;
      ev.preventDefault();
      const digits = ev.clipboardData.getData('text').replace(/[^0-9]/g, '');
      i.setRangeText(digits, i.selectionStart, i.selectionEnd, 'end');
      if (i.maxLength > 0 && i.value.length > i.maxLength) i.value = i.value.slice(0, i.maxLength);
      i.removeAttribute('aria-invalid');
    });
  }

  // A user with a passkey may confirm with it; one without an
  // authenticator app confirms with a recovery code otherwise.
  const passkeyButton = document.getElementById('change-passkey');
  fetch(api + 'methods', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then((res) => (res.ok ? res.json() : { methods: [] }))
    .then((data) => {
      const methods = data.methods || [];
      passkeyButton.hidden = !methods.includes('passkey');
      if (methods.length > 0 && !methods.includes('totp') && mode === 'totp') {
        toggle.click();
        toggle.hidden = true;
        say(errorBox, '');
      }
    })
    .catch(() => {});

  // passkeyToken gets the token with one of the user's passkeys.
  async function passkeyToken() {
    if (!window.PublicKeyCredential || typeof PublicKeyCredential.parseRequestOptionsFromJSON !== 'function') {
      throw Object.assign(new Error('no WebAuthn'), { code: 'passkey_unsupported' });
    }
    const options = await post(api + 'devices/passkey/authenticate/options', {});
    let cred;
    try {
      cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) });
    } catch (e) {
      throw Object.assign(new Error('cancelled'), { code: 'passkey_cancelled' });
    }
    if (!cred) throw Object.assign(new Error('cancelled'), { code: 'passkey_cancelled' });
    const res = await post(api + 'devices/passkey/authenticate', {
      response: cred.toJSON(),
      createMfaToken: { singleUse: true, scopes: ['change-email'] },
    });
    return res.mfaToken.value;
  }

  passkeyButton.addEventListener('click', () => change(true));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    change(false);
  });

  async function change(withPasskey) {
    const emailInput = document.getElementById('new-email');
    const codeInput = active();
    say(status, '');
    if (!emailInput.checkValidity()) return fail('Enter a valid email address, like ann@example.com.', emailInput);
    if (!withPasskey && codeInput.value.trim() === '') return fail(mode === 'recovery' ? 'Enter one of your recovery codes.' : 'Enter the code from your authenticator app.', codeInput);
    const button = withPasskey ? passkeyButton : form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      let token;
      try {
        if (withPasskey) {
          token = await passkeyToken();
        } else {
          const res = await post(api + (mode === 'recovery' ? 'recovery-codes/authenticate' : 'devices/totp/authenticate'), {
            code: codeInput.value.trim(),
            createMfaToken: { singleUse: true, scopes: ['change-email'] },
          });
          token = res.mfaToken.value;
        }
      } catch (e) {
        return fail(message(e), withPasskey ? null : codeInput);
      }
      try {
        const res = await post('/account/email', { email: emailInput.value.trim() }, { 'X-Mfa-Auth-Token': token });
        document.getElementById('email').textContent = res.email;
        form.reset();
        say(errorBox, '');
        say(status, 'Your email address is now ' + res.email + '.');
      } catch (e) {
        fail(message(e), emailInput);
      }
    } finally {
      button.disabled = false;
    }
  }
})();
