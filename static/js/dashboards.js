// Model dashboard: refresh the queue depth and worker status every 15 s from
// /api/v1/dashboards/live (the figures stay as rendered; reload the page for new ones).
const panel = document.getElementById('live');
const REFRESH_MS = 15000;

async function refresh() {
  try {
    const response = await fetch(panel.dataset.url, { headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    const live = await response.json();
    document.getElementById('queue-depth').textContent = live.queue_depth ?? '–';
    const count = document.getElementById('worker-count');
    count.textContent = String(live.worker_count);
    count.dataset.state = live.worker_count > 0 ? 'up' : 'down';
    document.getElementById('worker-names').textContent = live.workers.join(', ');
  } catch (error) {
    console.warn('dashboard refresh failed', error);
  }
}

if (panel) setInterval(refresh, REFRESH_MS);
