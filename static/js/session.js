// The session's idle clock in the header: the server ends a session after SESSION_COOKIE_AGE
// seconds without a request; this shows the time left and goes to the login page when it is up.
import { formatDuration } from "./common.js";

const clock = document.getElementById("session-clock");
if (clock) {
  const idle = Number(clock.dataset.idleSeconds) || 1800;
  let deadline = Date.now() + idle * 1000;
  document.addEventListener("session:activity", () => {
    deadline = Date.now() + idle * 1000;
  });
  const tick = () => {
    const left = (deadline - Date.now()) / 1000;
    clock.textContent = `session ${formatDuration(left)}`;
    clock.classList.toggle("warn", left < 120);
    if (left <= 0) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`${clock.dataset.loginUrl}?next=${next}`);
      return;
    }
    setTimeout(tick, 1000);
  };
  tick();
}
