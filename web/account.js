// The pages behind the links in emails: `/verify?token=…` posts the token to
// `POST /auth/verify-email`; `/reset-password?token=…` asks for a new password and posts both
// to `POST /auth/password-reset/confirm`.
import { request, describe } from './api.js';

const token = new URLSearchParams(window.location.search).get('token') || '';
const title = document.getElementById('title');
const message = document.getElementById('message');
const form = document.getElementById('reset-form');

async function verify() {
  title.textContent = 'Verify your email';
  message.textContent = 'Verifying…';
  try {
    const user = await request('POST', '/auth/verify-email', { body: { token } });
    message.textContent = `Thank you, ${user.email} is verified.`;
  } catch (error) {
    message.textContent = error.status === 401
      ? 'This verification link is not valid.'
      : describe(error);
  }
}

function reset() {
  title.textContent = 'Choose a new password';
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = document.getElementById('new-password').value;
    message.textContent = 'Saving…';
    try {
      await request('POST', '/auth/password-reset/confirm', { body: { token, password } });
      form.hidden = true;
      message.textContent = 'Your password is changed; every other session was signed out. You can log in now.';
    } catch (error) {
      message.textContent = error.status === 401
        ? 'This link was used already or has expired. Ask for a new one.'
        : describe(error);
    }
  });
}

if (window.location.pathname === '/reset-password') reset();
else verify();
