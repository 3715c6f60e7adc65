// Keeps the whole configuration in the URL query, so the address bar is always a link that
// reproduces this setup. Only values that differ from the page's defaults are written.
const form = document.getElementById("recipe-form");
const defaults = new Map([...new FormData(form)].filter(([name]) => name !== "csrfmiddlewaretoken"));
const initialQuery = new URLSearchParams(location.search);

for (const [name] of defaults) {
  if (!initialQuery.has(name)) continue;
  defaults.set(name, null); // present in the link: keep it in the link
}

function syncUrl() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (name === "csrfmiddlewaretoken") continue;
    if (defaults.get(name) !== value) query.set(name, value);
  }
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

form.addEventListener("input", syncUrl);
form.addEventListener("change", syncUrl);
document.getElementById("copy-link").addEventListener("click", async (event) => {
  syncUrl();
  try {
    await navigator.clipboard.writeText(location.href);
    event.target.textContent = "Link copied";
  } catch {
    event.target.textContent = "Copy the address bar";
  }
});
syncUrl();
