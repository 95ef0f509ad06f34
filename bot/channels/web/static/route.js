// "Find my route": a few questions as buttons, then the routes and support in the plan that apply, with reasons.
// Uses the chat's helpers (app.js calls VocbotRoute.init); every server text is shown with textContent.
"use strict";

window.VocbotRoute = (function () {
  let chat = null;
  let flows = null;           // [{id, title}] in the language they were fetched in
  let flowsLang = null;
  const current = { flow: null, answers: {} };

  function t(key, values) { return chat.t(key, values); }

  async function loadFlows() {
    if (flows && flowsLang === chat.state.lang) return flows;
    const result = await chat.api("/api/route?lang=" + encodeURIComponent(chat.state.lang));
    if (result.status !== 200) return null;
    flows = result.data.flows;
    flowsLang = chat.state.lang;
    return flows;
  }

  function withoutLast(answers) {
    const keys = Object.keys(answers);
    const copy = Object.assign({}, answers);
    if (keys.length) delete copy[keys[keys.length - 1]];
    return copy;
  }

  function nav() {
    const row = chat.el("div", { class: "buttons route-nav" });
    row.appendChild(chat.button(t("route_back"), () => back(), { class: "choice route-back", "data-route": "back" }));
    row.appendChild(chat.button(t("route_restart"), () => chooseFlow(), { class: "choice route-restart",
      "data-route": "restart" }));
    return row;
  }

  function settle(item, pressed) {
    // A step that was answered keeps its buttons visible but inactive; the pressed one stays marked.
    for (const b of item.querySelectorAll("button")) b.disabled = true;
    if (pressed) pressed.setAttribute("aria-pressed", "true");
  }

  function show(children, extraClass) {
    const item = chat.addMessage("bot", children, "route " + (extraClass || ""));
    item.setAttribute("lang", chat.state.lang);
    item.focus({ preventScroll: true });
    return item;
  }

  async function chooseFlow() {
    const list = await loadFlows();
    if (!list) { chat.addNote(t("error"), "error"); return; }
    current.flow = null;
    current.answers = {};
    const row = chat.el("div", { class: "buttons" });
    const item = show([chat.el("p", { class: "text route-question", text: t("route_choose_flow") }), row],
      "route-flows");
    for (const flow of list) {
      const b = chat.button(flow.title, () => { settle(item, b); start(flow.id, {}); },
        { "data-flow": flow.id, "aria-pressed": "false" });
      row.appendChild(b);
    }
  }

  async function start(flowId, answers) {
    current.flow = flowId;
    await go(answers || {});
  }

  async function back() {
    const keys = Object.keys(current.answers);
    if (!keys.length) { await chooseFlow(); return; }
    await go(withoutLast(current.answers));
  }

  async function go(answers) {
    if (chat.state.busy) return;
    chat.state.busy = true;
    const result = await chat.api("/api/route", { flow: current.flow, answers, lang: chat.state.lang,
      session: chat.state.session });
    chat.state.busy = false;
    if (result.status !== 200) { chat.addNote(chat.problem(result), "error"); return; }
    current.answers = result.data.answers;
    if (result.data.done) renderResult(result.data.result);
    else renderStep(result.data.step);
  }

  function renderStep(step) {
    const row = chat.el("div", { class: "buttons route-options" });
    const item = show([
      chat.el("p", { class: "route-progress", text: t("route_step", { number: step.number, total: step.total }) }),
      chat.el("p", { class: "text route-question", text: step.question }),
      row,
      nav(),
    ], "route-step");
    item.setAttribute("data-step", step.id);
    for (const option of step.options) {
      const b = chat.button(option.label, () => {
        settle(item, b);
        go(Object.assign({}, current.answers, { [step.id]: option.id }));
      }, { "data-option": option.id, "aria-pressed": "false" });
      row.appendChild(b);
    }
  }

  function originalText(source) {
    const details = chat.el("details", { class: "original" }, [chat.el("summary", { text: t("route_original") })]);
    let loaded = false;
    details.addEventListener("toggle", async () => {
      if (!details.open || loaded) return;
      loaded = true;
      for (const id of source) {
        const result = await chat.api("/api/clause/" + encodeURIComponent(id));
        if (result.status !== 200) continue;
        const clause = result.data;
        const heading = chat.state.lang === "en" && clause.heading_en ? clause.heading_en : clause.heading;
        details.appendChild(chat.el("h4", { class: "clause-title", text: clause.id + " " + heading }));
        details.appendChild(chat.el("p", { class: "clause-text", lang: "zh", text: clause.text }));
      }
    });
    return details;
  }

  function list(title, lines, extraClass) {
    if (!lines.length) return null;
    return chat.el("section", { class: "route-list " + extraClass }, [
      chat.el("h4", { class: "route-list-title", text: title }),
      chat.el("ul", {}, lines.map((line) => chat.el("li", { text: line }))),
    ]);
  }

  function renderResult(result) {
    const items = result.items.map((entry) => chat.el("li", { class: "route-item", "data-intent": entry.intent }, [
      chat.el("h4", { class: "route-item-title", text: entry.title }),
      chat.el("p", { class: "route-why", text: entry.why }),
      chat.el("p", { class: "citation",
        text: t("route_source", { clauses: entry.source.join(chat.state.lang === "zh" ? "、" : ", ") }) }),
      chat.el("div", { class: "buttons" }, [chat.button(t("route_full_answer"),
        () => chat.pick({ intent: entry.intent, title: entry.title }, null), { class: "choice route-answer" })]),
      originalText(entry.source),
    ]));
    show([
      chat.el("h3", { class: "route-title", text: result.title }),
      chat.el("ol", { class: "route-items" }, items),
      list(t("route_not_in_plan"), result.not_in_plan, "route-gaps"),
      list(t("route_ask"), result.ask, "route-ask"),
      nav(),
    ], "route-result");
  }

  function offer(route) {
    // Offered under an answer whose question named a situation; continues with what it already knows.
    return chat.el("div", { class: "options route-offer" }, [
      chat.el("p", { class: "options-title", text: t("route_offer") }),
      chat.el("div", { class: "buttons" }, [chat.button(t("route_offer_button"),
        () => start(route.flow, route.answers), { class: "choice route-continue" })]),
    ]);
  }

  function init(helpers) {
    chat = helpers;
    const opener = document.getElementById("route-start");
    if (opener) opener.addEventListener("click", () => chooseFlow());
  }

  return { init, offer, start, chooseFlow };
})();
