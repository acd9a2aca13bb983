// mfakit's custom MFA UI: the four views of the headless MFA guide
// (devices, qr-code, otp, backup-codes), driven by the SyncFlow endpoints
// under api/flow. Plain JavaScript without a build step, served as a file
// so that the page's Content-Security-Policy can forbid inline script. All
// URLs are relative, so the UI works under any mount prefix. It builds the
// DOM with textContent only: nothing from the server is parsed as HTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const root = $('mfa');
  const returnURL = root.dataset.returnUrl || '';
  // The length of a TOTP code: the configured one for a new device, then
  // the device's own, which the server sends with it (useDigits).
  let codeDigits = Number(root.dataset.digits) || 6;
  const views = ['loading', 'signed-out', 'devices', 'qr-code', 'otp', 'backup-codes'];

  let state = null; // the last flow state from the server
  let enrolling = false; // the OTP view verifies a new device rather than a login
  let confirming = null; // the open form that confirms an action with a code
  // Passkeys: the server has them on; the user's verified devices, by type.
  const passkeysOn = root.dataset.passkeys === 'on';
  let hasTOTP = false;
  let hasPasskey = false;
  let verifiedCount = 0; // the user's verified devices

  // ---- Server ----

  class APIError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || 'request failed with status ' + status);
      this.status = status;
      this.code = e.code || '';
      this.retryAfter = e.retryAfter || 0;
    }
  }

  async function api(method, path, body, headers) {
    const init = {
      method,
      headers: Object.assign({ Accept: 'application/json' }, headers),
      credentials: 'same-origin',
      cache: 'no-store',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, { error: { code: 'network' } });
    }
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) throw new APIError(res.status, data);
    return data;
  }

  // describe turns an error of a step ({code, message, retryAfter}) into a
  // sentence for the user.
  function describe(err, recovery) {
    switch (err.code) {
      case 'mfa_invalid_code':
        return recovery
          ? 'That recovery code is not valid, or it has been used already.'
          : 'That code is not correct. Check the app and try again.';
      case 'mfa_code_reused':
        return 'That code has been used already. Wait for the next code in your app.';
      case 'mfa_rate_limited':
        if (err.retryAfter > 0) {
          const s = err.retryAfter === 1 ? 'second' : 'seconds';
          return `Too many failed attempts. Try again in ${err.retryAfter} ${s}.`;
        }
        return 'Too many failed attempts: your account is locked. Contact support to unlock it.';
      case 'mfa_device_limit':
        return 'You already have an authenticator app. Delete it first to add another one.';
      case 'mfa_invalid_step':
        return 'That step is not available any more. The page now shows where you are.';
      case 'mfa_token_required':
      case 'mfa_token_invalid':
      case 'mfa_token_expired':
        return 'The confirmation did not go through. Enter a new code and try again.';
      case 'mfa_passkey_refused':
        return 'This passkey was not accepted. Try again, or use another way to confirm it’s you.';
      case 'mfa_passkey_registered':
        return 'This passkey is registered already.';
      case 'mfa_challenge_invalid':
        return 'The passkey request expired. Try again.';
      case 'passkey_unsupported':
        return 'This browser cannot use passkeys. Use a code instead, or another browser.';
      case 'passkey_cancelled':
        return 'The passkey request was cancelled or timed out. Try again when you are ready.';
      case 'passkey_exists':
        return 'This authenticator has a passkey for this account already.';
      case 'unauthenticated':
        return 'You are signed out. Sign in again.';
      case 'network':
        return 'Cannot reach the server. Check your connection and try again.';
      case 'internal_error':
        return 'Something went wrong on our side. Try again in a moment.';
    }
    return sentence(err.message || 'Something went wrong. Try again.');
  }

  function sentence(s) {
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  // ---- Passkeys (WebAuthn) ----

  // A browser error of a WebAuthn ceremony, as a step error.
  class PasskeyError extends Error {
    constructor(code) {
      super(code);
      this.code = code;
      this.status = 0;
    }
  }

  function webauthnSupported() {
    return !!window.PublicKeyCredential &&
      typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
      typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
  }

  // ceremony runs navigator.credentials.create or get and returns the
  // credential as JSON, turning the browser's refusals into PasskeyErrors.
  async function ceremony(create, publicKey) {
    if (!webauthnSupported()) throw new PasskeyError('passkey_unsupported');
    let cred;
    try {
      cred = create
        ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) })
        : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
    } catch (e) {
      if (e && e.name === 'InvalidStateError') throw new PasskeyError('passkey_exists');
      if (e && e.name === 'NotSupportedError') throw new PasskeyError('passkey_unsupported');
      throw new PasskeyError('passkey_cancelled'); // NotAllowedError, AbortError
    }
    if (!cred) throw new PasskeyError('passkey_cancelled');
    return cred.toJSON();
  }

  // passkeyAuth asks the browser for one of the user's passkeys and
  // authenticates with it; with scope, the answer has a single-use MFA
  // token for it.
  async function passkeyAuth(scope) {
    if (!webauthnSupported()) throw new PasskeyError('passkey_unsupported');
    const options = await api('POST', 'api/devices/passkey/authenticate/options');
    const response = await ceremony(false, options.publicKey);
    const body = { response };
    if (scope) body.createMfaToken = { singleUse: true, scopes: [scope] };
    return api('POST', 'api/devices/passkey/authenticate', body);
  }

  // registerPasskey creates a passkey, with an MFA token of scope
  // credential:link when the user has a factor already.
  async function registerPasskey(token) {
    if (!webauthnSupported()) throw new PasskeyError('passkey_unsupported');
    const begun = await api('POST', 'api/devices/passkey', token ? { mfaToken: token } : {});
    const response = await ceremony(true, begun.options.publicKey);
    return api('POST', 'api/devices/passkey/finish', { response });
  }

  // ---- Live regions ----

  // say puts msg into a live region, clearing it first so that the same
  // message twice is announced twice.
  function say(el, msg) {
    el.textContent = '';
    if (msg) setTimeout(() => { el.textContent = msg; }, 30);
  }
  const announce = (msg) => say($('status'), msg);
  const setError = (msg) => say($('error'), msg);

  // ---- Busy state ----

  let busy = false;

  // run does one request-driven action at a time, with the buttons off.
  async function run(fn) {
    if (busy) return;
    busy = true;
    root.setAttribute('aria-busy', 'true');
    const buttons = Array.from(root.querySelectorAll('button:not(:disabled)'));
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await fn();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      root.setAttribute('aria-busy', 'false');
      busy = false;
    }
  }

  // ---- Flow ----

  // step takes a SyncFlow step ('' syncs) and shows the resulting view.
  // Every step is a POST: even a sync may add a device.
  async function step(name, body, opts) {
    opts = opts || {};
    let st;
    try {
      st = await api('POST', name ? 'api/flow/' + name : 'api/flow', body);
    } catch (e) {
      failed(e, opts);
      return;
    }
    show(st, opts);
  }

  function failed(e, opts) {
    if (e.status === 401 && e.code === 'unauthenticated') {
      state = null;
      updateSite(false, false);
      showView('signed-out');
      setError('');
      $('signed-out-title').focus();
      return;
    }
    setError(describe(e, opts && opts.recovery));
    if (opts && opts.input) invalid(opts.input);
  }

  function show(st, opts) {
    opts = opts || {};
    const prev = state;
    state = st;
    if (st.view === 'qr-code') enrolling = true;
    else if (st.view !== 'otp') enrolling = false;
    const changed = !prev || prev.view !== st.view;

    updateSite(true, st.complete);
    switch (st.view) {
      case 'devices':
        useDeviceDigits(st.devices || []);
        renderDevices(st.devices || [], st.complete);
        break;
      case 'qr-code':
        if (st.registration) useDigits(st.registration.digits);
        renderQR(st.registration, st.complete);
        break;
      case 'otp':
        if (changed && !enrolling) useDeviceDigits(null);
        if (changed) resetCodeForm($('otp-form'));
        if (changed) loginMethods(!enrolling);
        $('otp-back').hidden = !enrolling;
        $('otp-form').querySelector('[data-toggle]').hidden = enrolling;
        break;
      case 'backup-codes':
        renderCodes(st.recoveryCodes || []);
        break;
      default:
        setError('This page does not know the view "' + st.view + '". Reload the page.');
        return;
    }
    showView(st.view);

    if (st.error) {
      setError(describe(st.error, opts.recovery));
      const input = st.view === 'otp' ? activeInput($('otp-form')) : null;
      if (input) invalid(input);
      else if (changed) focusView(st.view);
      return;
    }
    setError('');
    if (returnURL && prev && !prev.complete && st.complete && st.view === 'devices') {
      // A login's second factor is done and nothing else is pending.
      announce('Verified. Taking you back.');
      window.location.assign(returnURL);
      return;
    }
    if (changed || opts.refocus) focusView(st.view);
  }

  // useDigits sizes every TOTP code input, and its label, for a device
  // whose codes have n digits.
  function useDigits(n) {
    if (!n || n === codeDigits) return;
    codeDigits = n;
    for (const f of document.querySelectorAll('.field[data-mode="totp"]')) {
      const input = f.querySelector('input');
      input.maxLength = n;
      f.querySelector('label').textContent = n + '-digit code';
    }
  }

  // loginMethods sets the code prompt up for the user's methods: at a
  // login (not while verifying a new authenticator app), a user with a
  // passkey is offered it first, with a way to a code instead.
  async function loginMethods(login) {
    let methods = [];
    if (login && passkeysOn) {
      try {
        methods = (await api('GET', 'api/methods')).methods || [];
      } catch (e) {
        methods = [];
      }
    }
    const passkey = methods.includes('passkey');
    hasPasskey = passkey;
    $('otp-use-passkey').hidden = !passkey;
    const form = $('otp-form');
    // Without an authenticator app, the code is a recovery code.
    if (login && methods.length > 0 && !methods.includes('totp')) {
      setMode(form, 'recovery');
      form.querySelector('[data-toggle]').hidden = true;
    }
    // A browser without WebAuthn starts with the code; "Use a passkey
    // instead" then says why it cannot.
    const first = passkey && webauthnSupported();
    usePasskeyLogin(first, false);
    if (first && !$('view-otp').hidden) $('use-passkey').focus();
  }

  // usePasskeyLogin switches the code prompt between the passkey button
  // and the code form.
  function usePasskeyLogin(on, focus) {
    const form = $('otp-form');
    $('passkey-login').hidden = !on;
    form.hidden = on;
    if (on) {
      for (const t of $('view-otp').querySelectorAll('[data-for-mode]')) t.hidden = t.dataset.forMode !== 'passkey';
    } else {
      setMode(form, mode(form));
    }
    if (focus) {
      setError('');
      if (on) $('use-passkey').focus();
      else activeInput(form).focus();
    }
  }

  async function loginWithPasskey() {
    await run(async () => {
      try {
        await passkeyAuth(null);
      } catch (e) {
        failed(e);
        if (!$('passkey-login').hidden) $('use-passkey').focus();
        return;
      }
      announce('Verified with your passkey.');
      await step('');
    });
  }

  // useDeviceDigits sizes the code inputs for the user's verified device,
  // or else the pending one; the code prompt of a login has no device list,
  // so it asks for one.
  async function useDeviceDigits(devices) {
    if (!devices) {
      try {
        devices = (await api('GET', 'api/devices')).devices || [];
      } catch (e) {
        return; // the configured length stays; the server checks the code
      }
    }
    const d = devices.find((x) => x.verified) || devices[0];
    if (d) useDigits(d.digits);
  }

  function showView(view) {
    for (const v of views) $('view-' + v).hidden = v !== view;
  }

  // updateSite shows the site header's links (when the application has a
  // header) that fit the session: Log out while signed in, also on a
  // login's code prompt, and the link back into the application only once
  // no second factor is pending, since before that the application would
  // send the user straight back here.
  function updateSite(signedIn, complete) {
    const back = $('site-back');
    if (back) back.hidden = !(signedIn && complete);
    const logout = $('site-logout');
    if (logout) logout.hidden = !signedIn;
  }

  function focusView(view) {
    if (view === 'otp' && !$('passkey-login').hidden) {
      $('use-passkey').focus();
      return;
    }
    if (view === 'otp') {
      activeInput($('otp-form')).focus();
      return;
    }
    const h = $('view-' + view).querySelector('h1');
    if (h) h.focus();
  }

  // ---- Devices ----

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Dates are in the browser's locale and time zone, e.g. "Nov 30, 2026"
  // or "30 Nov 2026". An application that shows dates on its own pages can
  // format them with the same options to match.
  const dateOptions = { year: 'numeric', month: 'short', day: 'numeric' };
  const dateFormat = new Intl.DateTimeFormat(undefined, dateOptions);

  function formatDate(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : dateFormat.format(d);
  }

  function timeEl(iso) {
    const t = el('time', '', formatDate(iso));
    t.dateTime = iso;
    return t;
  }

  // renderDevices shows the user's factors. A pending device is none: it
  // can neither be used nor deleted, expires by itself, and "Add device"
  // replaces it, so the list leaves it out.
  function renderDevices(devices, complete) {
    closeConfirm(false);
    const verified = devices.filter((d) => d.verified);
    verifiedCount = verified.length;
    hasTOTP = verified.some((d) => d.type !== 'passkey');
    hasPasskey = verified.some((d) => d.type === 'passkey');
    $('device-list').replaceChildren(...verified.map((d) => deviceItem(d, verified.length > 1)));
    $('device-list').hidden = verified.length === 0;
    $('no-devices').hidden = verified.length > 0;
    // One authenticator app, and any number of passkeys.
    $('add-device').hidden = hasTOTP;
    $('add-device-actions').hidden = hasTOTP && !passkeysOn;
    $('one-device').hidden = !hasTOTP;
    $('new-codes').hidden = verified.length === 0;
    const ret = $('return');
    if (ret) ret.hidden = !complete;
    updateReturnLink();
  }

  // updateReturnLink keeps one primary action in the device list: the way
  // back into the application leads only when neither "Add device" nor a
  // form that confirms an action is showing.
  function updateReturnLink() {
    const link = $('return-link');
    if (!link) return;
    const lead = ($('add-device-actions').hidden || $('add-device').hidden) && !confirming;
    link.classList.toggle('primary', lead);
    link.classList.toggle('secondary', !lead);
  }

  function deviceItem(d, several) {
    const li = el('li', 'device');
    li.dataset.type = d.type || 'totp';
    const info = el('div', 'device-info');
    const name = d.alias || (d.type === 'passkey' ? 'Passkey' : 'Authenticator app');
    info.append(el('span', 'device-name', name));
    info.append(el('span', 'badge', 'Verified'));
    if (several && d.default) info.append(el('span', 'badge', 'Default'));
    // The dates, each whole on a line; the style sheet draws the dots
    // between them, so that no line ends (or starts) with one.
    const meta = el('span', 'device-meta');
    const dates = el('span', 'device-dates');
    const added = el('span', '', 'Added ');
    added.append(timeEl(d.createdAt));
    dates.append(added);
    if (d.lastUsedAt) {
      const used = el('span', '', 'Last used ');
      used.append(timeEl(d.lastUsedAt));
      dates.append(used);
    }
    meta.append(dates);
    info.append(meta);
    li.append(info);
    const actions = el('div', 'device-actions');
    if (several && !d.default) {
      const def = el('button', 'secondary', 'Make default');
      def.type = 'button';
      def.setAttribute('aria-label', `Make ${name}, added ${formatDate(d.createdAt)}, the default`);
      def.addEventListener('click', () => makeDefault(d, name));
      actions.append(def);
    }
    const del = el('button', 'danger-outline', 'Delete');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete ${name}, added ${formatDate(d.createdAt)}`);
    del.addEventListener('click', () => openConfirm($('delete-form'), del, d));
    actions.append(del);
    li.append(actions);
    return li;
  }

  // makeDefault makes d the device a login asks for first.
  async function makeDefault(d, name) {
    await run(async () => {
      try {
        await api('POST', 'api/devices/' + encodeURIComponent(d.id) + '/default');
      } catch (e) {
        failed(e);
        return;
      }
      announce(name + ' is now your default.');
      await step('', undefined, { refocus: true });
    });
  }

  // ---- Actions confirmed with a code ----

  // openConfirm shows form, which confirms an action on target with a TOTP
  // or recovery code. panel, if given, is hidden while the form is open;
  // opener gets the focus back on Cancel.
  function openConfirm(form, opener, target, panel) {
    closeConfirm(false);
    confirming = { form, opener, target, panel };
    if (panel) panel.hidden = true;
    resetCodeForm(form);
    // Without an authenticator app, a code is a recovery code.
    if (!hasTOTP) setMode(form, 'recovery');
    form.querySelector('[data-toggle]').hidden = !hasTOTP;
    const pk = form.querySelector('[data-passkey]');
    if (pk) pk.hidden = !(passkeysOn && hasPasskey);
    confirmTexts(form, target);
    form.hidden = false;
    updateReturnLink();
    setError('');
    activeInput(form).focus();
  }

  // confirmTexts fits the heading and help of form to the device it acts
  // on and to the ways the user has to confirm: the page's own texts are
  // for an authenticator app, confirmed with its code or a recovery code.
  function confirmTexts(form, target) {
    const title = form.querySelector('h2');
    const help = form.querySelector('p[id$="-help"]');
    title.dataset.text = title.dataset.text || title.textContent;
    help.dataset.text = help.dataset.text || help.textContent;
    if (form.id === 'delete-form') {
      title.textContent = target && target.type === 'passkey' ? 'Delete passkey' : title.dataset.text;
    }
    // The recovery codes go only with the user's last device.
    const keep = (text) => (form.id === 'delete-form' && verifiedCount > 1
      ? text.replace(/ Your recovery codes stop working too; you can then add a new device\./, ' Your recovery codes keep working with your other devices.')
      : text);
    if (hasTOTP && !hasPasskey && form.id !== 'passkey-form') {
      help.textContent = keep(help.dataset.text);
      return;
    }
    const ways = [];
    if (passkeysOn && hasPasskey) ways.push('use one of your passkeys');
    ways.push(hasTOTP ? 'enter a code from the authenticator app or one of your recovery codes' : 'enter one of your recovery codes');
    const rest = help.dataset.text.replace(/^To confirm, enter a code from the authenticator app or one of your recovery codes\./, '');
    help.textContent = form.id === 'passkey-form'
      ? help.dataset.text.replace(/^To confirm, [^.]*\./, `To confirm, ${ways.join(', or ')}.`)
      : keep(`To confirm, ${ways.join(', or ')}.` + rest);
  }

  function closeConfirm(refocus) {
    if (!confirming) return;
    const { form, opener, panel } = confirming;
    confirming = null;
    form.hidden = true;
    if (panel) panel.hidden = false;
    updateReturnLink();
    if (refocus && opener.isConnected) opener.focus();
  }

  // submitConfirm gets a single-use MFA token with scope for the code
  // entered in the open form, runs act(token, target) with it, and shows
  // where the flow stands then.
  async function submitConfirm(ev, scope, act, done) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const input = activeInput(form);
    if (!checkCode(input) || !confirming || confirming.form !== form) return;
    const recovery = mode(form) === 'recovery';
    const target = confirming.target;
    await run(async () => {
      try {
        const res = await api('POST', recovery ? 'api/recovery-codes/authenticate' : 'api/devices/totp/authenticate', {
          code: input.value.trim(),
          createMfaToken: { singleUse: true, scopes: [scope] },
        });
        await act(res.mfaToken.value, target);
      } catch (e) {
        // A passkey ceremony's failure is none of the code's.
        failed(e, e instanceof PasskeyError ? undefined : { recovery, input });
        return;
      }
      closeConfirm(false);
      announce(done);
      await step('', undefined, { refocus: true });
    });
  }

  // confirmWithPasskey does what submitConfirm does, with a passkey for
  // the code.
  async function confirmWithPasskey(form, scope, act, done) {
    if (!confirming || confirming.form !== form) return;
    const target = confirming.target;
    await run(async () => {
      try {
        const res = await passkeyAuth(scope);
        await act(res.mfaToken.value, target);
      } catch (e) {
        failed(e);
        return;
      }
      closeConfirm(false);
      announce(done);
      await step('', undefined, { refocus: true });
    });
  }

  // The actions confirmed in a form: scope of the token, what to do with
  // it, and what to say once done.
  const deleteAction = ['credential:unlink',
    (token, device) => api('DELETE', 'api/devices/' + encodeURIComponent(device.id), undefined, { 'X-Mfa-Auth-Token': token }),
    (device) => (device && device.type === 'passkey' ? 'The passkey was deleted.' : 'The authenticator app was deleted.')];
  const deleteDevice = (ev) => submitConfirm(ev, deleteAction[0], deleteAction[1], deleteAction[2](confirming && confirming.target));

  // replaceCodes makes a new set of recovery codes; the flow then shows
  // them to save, since they wait for acknowledgement.
  const replaceAction = ['recovery_codes:regenerate',
    (token) => api('POST', 'api/recovery-codes', undefined, { 'X-Mfa-Auth-Token': token }),
    () => 'Your recovery codes were replaced. Save the new ones.'];
  const replaceCodes = (ev) => submitConfirm(ev, replaceAction[0], replaceAction[1], replaceAction[2]());

  // Adding a passkey when the user has a factor already needs a token of
  // scope credential:link.
  const passkeyAction = ['credential:link', (token) => registerPasskey(token), () => 'Your passkey was added.'];
  const addPasskeyConfirmed = (ev) => submitConfirm(ev, passkeyAction[0], passkeyAction[1], passkeyAction[2]());

  // addPasskey creates a passkey at once for a user without a factor, and
  // otherwise opens the form that confirms it first.
  async function addPasskey(ev) {
    if (!webauthnSupported()) {
      setError(describe({ code: 'passkey_unsupported' }));
      return;
    }
    if (hasTOTP || hasPasskey) {
      openConfirm($('passkey-form'), ev.currentTarget, null, $('add-device-actions'));
      return;
    }
    await run(async () => {
      try {
        await registerPasskey(null);
      } catch (e) {
        failed(e);
        return;
      }
      announce('Your passkey was added.');
      await step('', undefined, { refocus: true });
    });
  }

  // cancelAdd goes back to the device list and leaves the new device
  // pending: it is no factor, expires by itself, and the next "Add device"
  // replaces it. The flow would show its QR code again while it exists, so
  // the list comes from the devices endpoint.
  async function cancelAdd() {
    const complete = !!(state && state.complete);
    await run(async () => {
      let res;
      try {
        res = await api('GET', 'api/devices');
      } catch (e) {
        failed(e);
        return;
      }
      show({ view: 'devices', devices: res.devices || [], complete });
      announce('Adding the authenticator app was cancelled.');
    });
  }

  // ---- QR code ----

  function renderQR(reg, complete) {
    // A user who is not in the middle of a login may give up adding it.
    $('cancel-add').hidden = !complete;
    // A user setting up a first factor may choose a passkey instead.
    $('qr-passkey').hidden = !passkeysOn || hasTOTP || hasPasskey;
    if (!reg) return;
    const img = $('qr-image');
    if (img.src !== reg.qrCode) img.src = reg.qrCode;
    // Groups of four, four groups a line, for reading and typing.
    const groups = reg.secret.match(/.{1,4}/g) || [];
    const lines = [];
    for (let i = 0; i < groups.length; i += 4) lines.push(groups.slice(i, i + 4).join(' '));
    $('secret').textContent = lines.join('\n');
  }

  // ---- Code input (TOTP or recovery code) ----

  const mode = (form) => form.dataset.mode || 'totp';
  const activeInput = (form) => form.querySelector(`.field[data-mode="${mode(form)}"] input`);

  // setMode switches form between a TOTP code and a recovery code: its
  // input, and the texts of its view marked data-for-mode (the OTP view's
  // heading and help).
  function setMode(form, m) {
    form.dataset.mode = m;
    for (const f of form.querySelectorAll('.field[data-mode]')) {
      const on = f.dataset.mode === m;
      f.hidden = !on;
      f.querySelector('input').disabled = !on;
    }
    for (const t of form.closest('.view').querySelectorAll('[data-for-mode]')) t.hidden = t.dataset.forMode !== m;
    form.querySelector('[data-toggle]').textContent =
      m === 'recovery' ? 'Use your authenticator app instead' : 'Use a recovery code instead';
  }

  function resetCodeForm(form) {
    form.reset();
    for (const i of form.querySelectorAll('input')) i.removeAttribute('aria-invalid');
    setMode(form, 'totp');
  }

  function toggleMode(ev) {
    const form = ev.target.closest('form');
    setMode(form, mode(form) === 'totp' ? 'recovery' : 'totp');
    setError('');
    activeInput(form).focus();
  }

  function checkCode(input) {
    const v = input.value.trim();
    let msg = '';
    const numeric = input.inputMode === 'numeric';
    if (v === '') {
      msg = numeric ? 'Enter the code from your authenticator app.' : 'Enter one of your recovery codes.';
    } else if (numeric && !/^[0-9 ]+$/.test(v)) {
      msg = 'The code is made of digits only.';
    } else if (numeric && v.replace(/ /g, '').length !== codeDigits) {
      msg = `Enter all ${codeDigits} digits of the code from your authenticator app.`;
    }
    if (msg) {
      setError(msg);
      invalid(input);
      return false;
    }
    return true;
  }

  function invalid(input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    input.select();
  }

  function onCodeInput(ev) {
    const i = ev.target;
    i.removeAttribute('aria-invalid');
    if (i.inputMode === 'numeric') {
      // A code typed or filled in with separators keeps its digits only.
      const digits = i.value.replace(/[^0-9]/g, '');
      if (digits !== i.value) i.value = digits;
    }
  }

  // onCodePaste keeps the digits of a code pasted as "123 456" or
  // "123-456": the input is only as long as a code, and the browser would
  // cut the pasted text before onCodeInput sees it.
  function onCodePaste(ev) {
    const i = ev.target;
    if (i.inputMode !== 'numeric' || !ev.clipboardData) return;
    ev.preventDefault();
    const digits = ev.clipboardData.getData('text').replace(/[^0-9]/g, '');
    i.setRangeText(digits, i.selectionStart, i.selectionEnd, 'end');
    if (i.maxLength > 0 && i.value.length > i.maxLength) i.value = i.value.slice(0, i.maxLength);
    i.removeAttribute('aria-invalid');
  }

  async function submitCode(ev) {
    ev.preventDefault();
    const form = $('otp-form');
    const input = activeInput(form);
    if (!checkCode(input)) return;
    const recovery = mode(form) === 'recovery';
    await run(() => step(recovery ? 'recovery-code' : 'otp', { code: input.value.trim() }, { recovery }));
  }

  // ---- Recovery codes ----

  function renderCodes(codes) {
    $('codes').replaceChildren(...codes.map((c) => el('li', '', c)));
  }

  function codesText() {
    const codes = (state && state.recoveryCodes) || [];
    return [
      'Recovery codes for ' + window.location.host,
      'Each code signs you in once if you cannot use your authenticator app.',
      'Saved ' + new Date().toISOString().slice(0, 10),
      '',
      ...codes,
      '',
    ].join('\n');
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // No clipboard API (an insecure origin) or no permission: fall back
      // to a selected text area and the copy command.
      const active = document.activeElement;
      const ta = el('textarea', 'visually-hidden');
      ta.value = text;
      ta.setAttribute('readonly', '');
      document.body.append(ta);
      ta.select();
      let ok = false;
      try {
        ok = document.execCommand('copy');
      } catch (e2) {
        ok = false;
      }
      ta.remove();
      if (active) active.focus();
      return ok;
    }
  }

  async function copy(button, text, what) {
    const ok = await copyText(text);
    const label = button.firstChild; // the visible text, before the hidden words
    button.dataset.label = button.dataset.label || label.nodeValue;
    label.nodeValue = ok ? 'Copied' : 'Copy failed';
    announce(ok ? what + ' copied to the clipboard.' : 'Copying failed: select the text and copy it yourself.');
    clearTimeout(button.restore);
    button.restore = setTimeout(() => { label.nodeValue = button.dataset.label; }, 2000);
  }

  function download() {
    const blob = new Blob([codesText()], { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = el('a');
    a.href = url;
    a.download = 'recovery-codes.txt';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    announce('Recovery codes downloaded as recovery-codes.txt.');
  }

  // ---- Wiring ----

  $('add-device').addEventListener('click', () => run(() => step('add-device')));
  $('continue').addEventListener('click', () => run(() => step('continue')));
  $('cancel-add').addEventListener('click', cancelAdd);
  $('qr-passkey').addEventListener('click', addPasskey);
  $('otp-back').addEventListener('click', () => run(() => step('')));
  $('acknowledge').addEventListener('click', () => run(() => step('acknowledge')));
  $('otp-form').addEventListener('submit', submitCode);
  $('delete-form').addEventListener('submit', deleteDevice);
  $('delete-cancel').addEventListener('click', () => { setError(''); closeConfirm(true); });
  $('replace-codes').addEventListener('click', (ev) => openConfirm($('replace-form'), ev.currentTarget, null, $('new-codes')));
  $('replace-form').addEventListener('submit', replaceCodes);
  $('replace-cancel').addEventListener('click', () => { setError(''); closeConfirm(true); });
  if (passkeysOn) {
    $('add-passkey').addEventListener('click', addPasskey);
    $('passkey-form').addEventListener('submit', addPasskeyConfirmed);
    $('passkey-cancel').addEventListener('click', () => { setError(''); closeConfirm(true); });
  }
  const passkeyButtons = [['delete-form', deleteAction], ['replace-form', replaceAction], ['passkey-form', passkeyAction]];
  for (const [id, [scope, act, done]] of passkeyButtons) {
    const form = $(id);
    if (!form) continue;
    form.querySelector('[data-passkey]').addEventListener('click', () =>
      confirmWithPasskey(form, scope, act, done(confirming && confirming.target)));
  }
  $('use-passkey').addEventListener('click', loginWithPasskey);
  $('use-code').addEventListener('click', () => usePasskeyLogin(false, true));
  $('otp-use-passkey').addEventListener('click', () => {
    if (!webauthnSupported()) {
      setError(describe({ code: 'passkey_unsupported' }));
      return;
    }
    usePasskeyLogin(true, true);
  });
  $('copy-secret').addEventListener('click', (ev) =>
    copy(ev.currentTarget, (state && state.registration && state.registration.secret) || '', 'Setup key'));
  $('copy-codes').addEventListener('click', (ev) =>
    copy(ev.currentTarget, ((state && state.recoveryCodes) || []).join('\n'), 'Recovery codes'));
  $('download-codes').addEventListener('click', download);
  for (const b of root.querySelectorAll('[data-toggle]')) b.addEventListener('click', toggleMode);
  for (const i of root.querySelectorAll('.field input')) {
    i.addEventListener('input', onCodeInput);
    i.addEventListener('paste', onCodePaste);
  }

  // start shows where the flow stands. Opened as #add-device (from a
  // "Set up two-factor authentication" link), the page goes on to a new
  // device's QR code when the user has no verified device, rather than
  // stopping at the empty device list. The fragment goes at once, so that
  // a reload shows the same QR code instead of making another.
  async function start() {
    if (window.location.hash !== '#add-device') {
      await step('');
      return;
    }
    history.replaceState(null, '', window.location.pathname + window.location.search);
    let st;
    try {
      st = await api('POST', 'api/flow');
    } catch (e) {
      failed(e);
      return;
    }
    if (st.view === 'devices' && !st.error && !(st.devices || []).some((d) => d.verified)) {
      await step('add-device');
      return;
    }
    show(st);
  }

  run(start);
})();
