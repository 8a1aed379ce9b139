// One EventSource per page on /api/v1/stream. It resumes after the position the page was read at
// (?last_event_id=), and after a drop the browser reconnects by itself with Last-Event-ID. When the stream
// says `resync` (it kept too little), the page reloads its parts and listens again from their position.
// A connection refused (a session that expired) is renewed and opened again after the last event seen; the
// wait between tries ends early when the browser comes back online.
// Events are handled in order and in batches: those that arrive while a batch is handled make the next one, so a
// burst (20 messages a second to the open conversation) costs a round of requests and a layout per batch, not
// per event, and the page keeps up instead of falling further behind.

import { refreshSession } from "./session.js";

const KINDS = ["message.created", "message.updated", "conversation.updated"];
const BATCH = 50; // events handed over at most at once

export class Live {
  constructor(after, { onEvents, onResync, onState }) {
    this.lastId = after;
    this.onEvents = onEvents; // (events: [{kind, data}], in order) => Promise
    this.onResync = onResync;
    this.onState = onState || (() => {});
    this.source = null;
    this.failures = 0;
    this.pending = []; // events ({kind, data}) and work (a resync) waiting their turn
    this.draining = false;
    this.wake = null;
    window.addEventListener("online", () => this.wake?.());
  }

  open() {
    const source = new EventSource(`/api/v1/stream?last_event_id=${encodeURIComponent(this.lastId)}`);
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this.onState("live");
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        const id = Number(event.lastEventId);
        if (id && id <= this.lastId) return; // seen already
        if (id) this.lastId = id;
        const data = JSON.parse(event.data);
        this.enqueue({ kind, data });
      });
    }
    source.addEventListener("resync", () => {
      source.close();
      this.onState("reconnecting");
      this.enqueue(async () => {
        this.lastId = await this.onResync();
        this.open();
      });
    });
    source.onerror = () => {
      this.onState("reconnecting");
      if (source.readyState === EventSource.CLOSED) this.reopen(source);
    };
  }

  // The browser gave up (the answer was not a stream: a 401 after the session expired, a 5xx…).
  async reopen(source) {
    if (this.source !== source) return;
    this.failures += 1;
    const wait = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
    await new Promise((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, wait);
    });
    this.wake = null;
    await refreshSession();
    if (this.source === source) this.open();
  }

  // `item`: an event, or work (a function) that runs alone, after the events before it.
  enqueue(item) {
    this.pending.push(item);
    if (!this.draining) this.drain();
  }

  async drain() {
    this.draining = true;
    while (this.pending.length) {
      const work = typeof this.pending[0] === "function" ? this.pending.shift() : null;
      let events = [];
      if (!work) {
        const upTo = this.pending.findIndex((item) => typeof item === "function");
        events = this.pending.splice(0, Math.min(BATCH, upTo < 0 ? this.pending.length : upTo));
      }
      try {
        await (work ? work() : this.onEvents(events));
      } catch (error) {
        console.error("wahub live update:", error);
      }
    }
    this.draining = false;
  }
}
