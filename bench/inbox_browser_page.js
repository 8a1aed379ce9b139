// bench/inbox_browser.py's probe, added to every page before the page's own scripts (Playwright's init script,
// not subject to the page's Content-Security-Policy). It records, in the page's own clock (performance.now(),
// 0 at the navigation's start):
// - long tasks (PerformanceObserver "longtask": main-thread tasks of 50 ms or more) and long animation frames
//   ("long-animation-frame": frames whose work took 50 ms or more, with the scripts that ran in them);
// - "painted" marks: when an element matching a selector is in the DOM, the frame after it was put there has
//   been painted (requestAnimationFrame, then a message posted from it: it runs once that frame is done);
// - the last click's time (the start of "opening a conversation");
// - when each message.created event reached the page, and when each live bubble whose text reads "bench live <n>" entered the thread (epoch ms).
(() => {
  const bench = {
    longtasks: [],
    frames: [],
    marks: {},
    clickAt: null,
    arrivals: {},
    streamed: [], // when each message.created reached the page's EventSource (epoch ms)
  };
  window.__bench = bench;
  const observe = (type, keep) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(keep)).observe({ type, buffered: true });
    } catch (error) {
      bench[`${type}-unsupported`] = String(error);
    }
  };
  observe("longtask", (e) => bench.longtasks.push({ start: e.startTime, duration: e.duration }));
  observe("long-animation-frame", (e) =>
    bench.frames.push({
      start: e.startTime,
      duration: e.duration,
      blocking: e.blockingDuration,
      render: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
      scripts: e.scripts.map((s) => ({
        invoker: s.invoker,
        duration: s.duration,
        layout: s.forcedStyleAndLayoutDuration,
        source: `${s.sourceURL.split("/").pop()}:${s.sourceFunctionName}`,
      })),
    }),
  );
  // The page's stream, seen from inside: when each new message's event arrived, before the page handled it.
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      super.addEventListener("message.created", () => bench.streamed.push(performance.timeOrigin + performance.now()));
    }
  };
  document.addEventListener("click", (event) => { bench.clickAt = event.timeStamp; }, true);

  const afterPaint = (done) =>
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => done(performance.now());
      channel.port2.postMessage(null);
    });

  // Resolve marks[name] once `selector` matches (now or later), at the paint after it appeared.
  bench.watch = (name, selector) => {
    delete bench.marks[name];
    const found = () => document.querySelector(selector);
    const settle = () => afterPaint((at) => { bench.marks[name] = { appeared, at }; });
    let appeared = null;
    if (found()) {
      appeared = performance.now();
      settle();
      return;
    }
    const watcher = new MutationObserver(() => {
      if (!found()) return;
      watcher.disconnect();
      appeared = performance.now();
      settle();
    });
    watcher.observe(document, { childList: true, subtree: true });
  };
  for (const [name, selector] of window.__benchWatches || []) bench.watch(name, selector);

  // Live bubbles: "bench live <n>" in a bubble of the thread, however it got there.
  bench.watchArrivals = () => {
    const thread = document.getElementById("thread");
    const seen = (node) => {
      if (node.nodeType !== 1) return;
      for (const bubble of node.matches(".bubble") ? [node] : node.querySelectorAll(".bubble")) {
        const n = /bench live (\d+)/.exec(bubble.textContent);
        if (n && !(n[1] in bench.arrivals)) bench.arrivals[n[1]] = performance.timeOrigin + performance.now();
      }
    };
    new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach(seen))).observe(thread, {
      childList: true,
      subtree: true,
    });
  };
})();
