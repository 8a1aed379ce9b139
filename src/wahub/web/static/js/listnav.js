// The conversation list from the keyboard: up and down move the selection (the focused row, outlined), Home and
// End go to the first and last, Enter opens it (the row is a link); down from the search box enters the list.
// The account filter applies when it is changed (the list's tools are a GET form: no script needed to submit).

const ROWS = "#conversation-list .row > a, #message-hits .hit > a";

export function setUp(sidebar) {
  if (!sidebar) return;
  sidebar.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const links = [...sidebar.querySelectorAll(ROWS)];
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const fromSearch = event.target.id === "search";
    let next = null;
    if (event.key === "ArrowDown") next = fromSearch || at < 0 ? 0 : Math.min(at + 1, links.length - 1);
    else if (event.key === "ArrowUp" && at >= 0) next = Math.max(at - 1, 0);
    else if (event.key === "Home" && at >= 0) next = 0;
    else if (event.key === "End" && at >= 0) next = links.length - 1;
    if (next === null || (fromSearch && event.key !== "ArrowDown")) return;
    event.preventDefault();
    links[next].focus();
    links[next].scrollIntoView({ block: "nearest" });
  });
  for (const select of sidebar.querySelectorAll("select[data-submit-on-change]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
}
