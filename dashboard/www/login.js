'use strict';
/* The login form, shown instead of the pages when the broker runs with authentication and the
 * page has no session (app.js: applySession). POST /api/login with the user's name and password;
 * the broker sets the session cookie, which the page never sees. A refusal is shown in the form
 * (login-error), which stays; a login goes back to the page in the address. */

const LoginForm = (() => {
  let wrap = null, form, user, password, submit, err, note;

  /* A hint under the broker's message, by its code */
  const HINT = {
    BUSY: 'The broker is busy: try again in a moment.',
    STORE_UNAVAILABLE: 'The store is unavailable: try again in a moment.',
    NETWORK: 'Is the broker running?',
    TIMEOUT: 'Try again in a moment.',
  };

  function showError(e) {
    const code = (e && e.code) || 'ERROR';
    const msg = (e && e.message) || String(e);
    err.dataset.code = code;
    setKids(err, h('span', {class: 'login-error-msg', text: msg}),
      HINT[code] ? [' ', h('span', {class: 'login-error-hint', text: HINT[code]})] : null);
    err.hidden = false;
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    const name = user.value.trim();
    if (!name || !password.value) {
      showError({code: 'BAD_REQUEST', message: name ? 'Enter the password.' : 'Enter the user name.'});
      (name ? password : user).focus();
      return;
    }
    err.hidden = true;
    submit.disabled = true;
    setText(submit, 'Logging in…');
    try {
      await login(name, password.value);
      password.value = '';
      note.hidden = true;
      applySession();
    } catch (e) {
      showError(e);
      password.focus();
      password.select();
    } finally {
      submit.disabled = false;
      setText(submit, 'Log in');
    }
  }

  function build() {
    user = h('input', {id: 'login-user', class: 'input', type: 'text', name: 'username', autocomplete: 'username',
      spellcheck: 'false', autocapitalize: 'none', required: true, testid: 'login-user'});
    password = h('input', {id: 'login-password', class: 'input', type: 'password', name: 'password',
      autocomplete: 'current-password', required: true, testid: 'login-password'});
    submit = h('button', {type: 'submit', class: 'btn btn-primary login-submit', text: 'Log in', testid: 'login-submit'});
    err = h('div', {class: 'banner banner-error login-error', role: 'alert', hidden: true, testid: 'login-error'});
    note = h('div', {class: 'banner banner-info', role: 'status', hidden: true, testid: 'login-note'});
    form = h('form', {class: 'login-card', novalidate: true, 'aria-labelledby': 'login-title', testid: 'login-form', onsubmit: onSubmit},
      h('div', {class: 'login-brand'}, h('img', {src: 'favicon.svg', alt: '', width: 32, height: 32}),
        h('h1', {id: 'login-title', text: 'Log in'})),
      h('p', {class: 'muted login-intro', text: 'This broker runs with authentication: log in as a user with role admin.'}),
      note,
      h('div', {class: 'login-row'}, h('label', {for: 'login-user', text: 'User name'}), user),
      h('div', {class: 'login-row'}, h('label', {for: 'login-password', text: 'Password'}), password),
      err,
      h('div', {class: 'login-actions'}, submit));
    wrap = h('div', {id: 'login', class: 'login-wrap', hidden: true}, form);
    $('#main').before(wrap);
  }

  /* The login form; the user name field has the focus (the password's when a name is there) */
  function show() {
    if (!wrap) build();
    const was = wrap.hidden;
    wrap.hidden = false;
    document.title = 'Log in · TRPC broker';
    if (was) (user.value ? password : user).focus();
  }

  function hide() {
    if (!wrap || wrap.hidden) return;
    wrap.hidden = true;
    err.hidden = true;
    note.hidden = true;
    document.title = currentPage ? `${currentPage.title} · TRPC broker` : 'TRPC broker';
  }

  /* A note above the form: why it is back ("Logged out.", "Your session ended ...") */
  function setNote(text) {
    if (!wrap) build();
    setText(note, text || '');
    note.hidden = !text;
  }

  return {show, hide, note: setNote};
})();
