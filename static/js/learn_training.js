// A preset button submits its job (session + CSRF) and opens the new job's page.
const bodies = JSON.parse(document.getElementById("preset-bodies").textContent);
const root = document.getElementById("presets");

async function submit(button) {
  const error = button.parentElement.querySelector(".preset-error");
  button.disabled = true;
  error.textContent = "";
  try {
    const response = await fetch(root.dataset.jobsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(bodies[button.dataset.preset]),
    });
    const job = await response.json();
    if (!response.ok) throw new Error(JSON.stringify(job));
    window.location.assign(`/jobs/${job.id}/`);
  } catch (e) {
    error.textContent = `Could not submit the job: ${e.message}`;
    button.disabled = false;
  }
}

root.addEventListener("click", (event) => {
  const button = event.target.closest("button.run-preset");
  if (button) submit(button);
});
