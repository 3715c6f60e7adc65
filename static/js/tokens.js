// Revoking a token breaks whatever uses it at once: ask first.
for (const form of document.querySelectorAll("form.revoke")) {
  form.addEventListener("submit", (event) => {
    const question = `Revoke “${form.dataset.name}”? Scripts and sockets using it stop working at once.`;
    if (!window.confirm(question)) event.preventDefault();
  });
}
