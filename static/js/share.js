// The job page's share controls: make a read-only link (POST .../share/), show it to copy,
// revoke it (DELETE .../share/: the link answers 404 from then on).
const $ = (id) => document.getElementById(id);
const api = $("share-box").dataset.api;
const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]").value;

function show(url) {
  $("share-url").value = url || "";
  $("share-url").hidden = $("unshare").hidden = !url;
  $("share").hidden = Boolean(url);
}

$("share").addEventListener("click", async () => {
  const response = await fetch(api, { method: "POST", headers: { "X-CSRFToken": csrf() } });
  if (!response.ok) return;
  const { url } = await response.json();
  show(url);
  $("share-url").select();
  navigator.clipboard?.writeText(url).catch(() => {});
});

$("unshare").addEventListener("click", async () => {
  const response = await fetch(api, { method: "DELETE", headers: { "X-CSRFToken": csrf() } });
  if (response.ok || response.status === 404) show("");
});
