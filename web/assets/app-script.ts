// The dashboard's one script, served as /static/app.js. Progressive enhancement only:
// every page works without it. Buttons (or forms) with data-confirm ask before sending.
export const APP_SCRIPT = `document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
`;
