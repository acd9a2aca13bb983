// Inline messages for the sign-up and login forms. When the browser finds
// a field invalid on submit, its message shows under the field, in the
// page, where the server puts its own; not only in the browser's bubble,
// which vanishes. A form opts in with data-inline-errors; a field's
// messages come from its data-value-missing, data-too-short and
// data-type-mismatch attributes, else from the browser, into the element
// with the id FIELD-error.
'use strict';

(function () {
  function message(input) {
    const v = input.validity;
    const d = input.dataset;
    if (v.valueMissing && d.valueMissing) return d.valueMissing;
    if (v.tooShort && d.tooShort) return d.tooShort;
    if (v.typeMismatch && d.typeMismatch) return d.typeMismatch;
    return input.validationMessage;
  }

  function show(input, msg) {
    const box = document.getElementById(input.id + '-error');
    if (!box) return;
    box.textContent = msg;
    box.hidden = !msg;
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  for (const form of document.querySelectorAll('form[data-inline-errors]')) {
    // invalid does not bubble: listen in the capture phase.
    form.addEventListener('invalid', (ev) => {
      const input = ev.target;
      if (!document.getElementById(input.id + '-error')) return; // the bubble then
      ev.preventDefault();
      show(input, message(input));
      if (input === form.querySelector(':invalid')) input.focus();
    }, true);
    // A message stays until the field is right, then goes.
    form.addEventListener('input', (ev) => {
      const input = ev.target;
      if (input.validity && input.validity.valid && input.getAttribute('aria-invalid') === 'true') show(input, '');
    });
  }
})();
