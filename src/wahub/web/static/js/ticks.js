// Ticks move forward only: a status is shown only when it ranks above the one shown, whatever order the
// events and the pages arrive in. The ranks are the server's (domain.MessageStatus.rank), handed over by
// the page, so both sides agree.

let ranks = {};
let labels = {};
const PENDING = -2; // a bubble the composer made, before the server answered

export function configure(rankTable, labelTable) {
  ranks = rankTable || {};
  labels = labelTable || {};
}

export function rank(status) {
  if (status === "pending") return PENDING;
  return Object.hasOwn(ranks, status) ? ranks[status] : -1;
}

// Show `status` on `tick` if it is further along; `reason` explains a failure (shown on hover).
export function advance(tick, status, reason) {
  if (!tick || rank(status) <= rank(tick.dataset.status)) return false;
  set(tick, status, reason);
  return true;
}

export function set(tick, status, reason) {
  const label = labels[status] || status;
  tick.dataset.status = status;
  tick.dataset.rank = String(rank(status));
  tick.setAttribute("aria-label", label);
  tick.setAttribute("title", reason || label);
}
