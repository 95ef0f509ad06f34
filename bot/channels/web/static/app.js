// The vocbot web chat. Every text from the server is shown with textContent, never parsed as HTML.
"use strict";

(function () {
  const LANGS = ["zh", "en"];
  const KEY_LANG = "vocbot.lang";
  const KEY_SESSION = "vocbot.session";
  const KEY_AUDIENCE = "vocbot.audience";

  const store = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch (e) { return null; }
    },
    set(key, value) {
      try {
        if (value === null) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, value);
      } catch (e) { /* private mode: keep it in memory only */ }
    },
  };

  function browserLang() {
    const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (const pref of prefs) {
      const code = String(pref).toLowerCase().slice(0, 2);
      if (LANGS.includes(code)) return code;
    }
    return "zh";
  }

  const state = {
    lang: LANGS.includes(store.get(KEY_LANG)) ? store.get(KEY_LANG) : browserLang(),
    // The server mints and signs the session id: the first reply carries it, later requests send it back.
    session: store.get(KEY_SESSION) || null,
    audience: store.get(KEY_AUDIENCE) || "",
    texts: {},
    lastEnquiry: null,
    busy: false,
  };

  const $ = (id) => document.getElementById(id);
  const log = $("log");

  // ---- small DOM helpers ---------------------------------------------------------------------------
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function t(key, values) {
    let text = state.texts[key] || "";
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(value);
    return text;
  }

  const icon = window.vocbotIcon;   // icons.js: inline SVG, no emoji font needed

  function button(label, onclick, extra) {
    return el("button", Object.assign({ type: "button", class: "choice", text: label, onclick }, extra || {}));
  }

  // ---- talking to the server ----------------------------------------------------------------------
  async function api(path, body) {
    const options = body === undefined ? { method: "GET" } : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    options.credentials = "same-origin";
    try {
      const response = await fetch(path, options);
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (data && typeof data.session === "string" && data.session !== state.session) {
        state.session = data.session;
        store.set(KEY_SESSION, data.session);
      }
      return { status: response.status, data };
    } catch (e) {
      return { status: 0, data: null };
    }
  }

  function problem(result) {
    if (result.status === 0) return t("web_offline") || "The server cannot be reached.";
    if (result.status === 429) return (result.data && result.data.message) || t("rate_limited");
    return t("error") || "Something went wrong.";
  }

  // ---- the conversation ---------------------------------------------------------------------------
  function scrollTo(node, block) {
    node.scrollIntoView({ block: block || "nearest" });
  }

  function addMessage(who, children, extraClass) {
    const label = who === "user" ? t("web_you") : t("web_bot");
    const item = el("article", { class: "msg " + who + (extraClass ? " " + extraClass : ""), tabindex: "-1" }, [
      el("h2", { class: "visually-hidden", text: label }),
    ].concat(children));
    log.appendChild(item);
    scrollTo(item, who === "user" ? "nearest" : "start");   // a long answer is read from its start
    return item;
  }

  function addUser(text) {
    return addMessage("user", [el("p", { class: "text", text })]);
  }

  function addNote(text, extraClass) {
    return addMessage("bot", [el("p", { class: "text", text })], extraClass);
  }

  function thinking() {
    return addMessage("bot", [el("p", { class: "text muted", text: t("web_thinking") || "\u2026" })], "pending");
  }

  function buttonsBlock(header, options, onpick) {
    const block = el("div", { class: "options" });
    if (header) block.appendChild(el("p", { class: "options-title", text: header }));
    const row = el("div", { class: "buttons" });
    for (const option of options) row.appendChild(button(option.title, () => onpick(option)));
    block.appendChild(row);
    return block;
  }

  function clausesBlock(clauses) {
    const details = el("details", { class: "original" }, [el("summary", { text: t("original_text") })]);
    for (const clause of clauses) {
      details.appendChild(el("h3", { class: "clause-title", text: clause.id + " " + clause.heading }));
      details.appendChild(el("p", { class: "clause-text", lang: "zh", text: clause.text }));
    }
    return details;
  }

  // "Tell me when there is an answer": shown on a fallback and after a thumbs-down.
  function optInButton(enquiryId) {
    const b = button(t("optin_button"), async () => {
      b.disabled = true;
      const result = await api("/api/notify", { enquiry_id: enquiryId, session: state.session, lang: state.lang });
      const note = addNote(result.status === 200 ? result.data.message : problem(result), "optin-note");
      if (result.status !== 200) b.disabled = false;
      note.focus({ preventScroll: true });
    }, { class: "choice optin" });
    return b;
  }

  async function stopNotices() {
    const result = await api("/api/notify/stop", { session: state.session, lang: state.lang });
    addNote(result.status === 200 ? result.data.message : problem(result), "optin-note").focus({ preventScroll: true });
  }

  async function loadNotices() {
    const result = await api("/api/notices", { session: state.session, lang: state.lang });
    if (result.status !== 200 || !result.data.notices) return;
    for (const notice of result.data.notices) {
      addNote(notice.notice, "notice-intro");
      addReply(notice).classList.add("notice");
    }
  }

  function feedbackBlock(enquiryId, lang) {
    const block = el("div", { class: "feedback", role: "group", "aria-label": t("web_helpful") + " / " + t("web_not_helpful") });
    const send = async (value, pressed) => {
      for (const b of block.querySelectorAll("button")) b.disabled = true;
      pressed.setAttribute("aria-pressed", "true");
      const result = await api("/api/feedback", { enquiry_id: enquiryId, value, session: state.session, lang });
      const text = result.status === 200 ? result.data.message : problem(result);
      block.appendChild(el("p", { class: "feedback-note", role: "status", text }));
      if (result.status !== 200) for (const b of block.querySelectorAll("button")) b.disabled = false;
      else if (value < 0 && enquiryId) block.appendChild(optInButton(enquiryId));
    };
    const up = el("button", { type: "button", class: "thumb", "aria-label": t("web_helpful"), title: t("web_helpful"),
      "aria-pressed": "false", "data-value": "1" }, [icon("up")]);
    const down = el("button", { type: "button", class: "thumb", "aria-label": t("web_not_helpful"),
      title: t("web_not_helpful"), "aria-pressed": "false", "data-value": "-1" }, [icon("down")]);
    up.addEventListener("click", () => send(1, up));
    down.addEventListener("click", () => send(-1, down));
    block.appendChild(up);
    block.appendChild(down);
    return block;
  }

  // A general explanation: the glossary's words, never the plan's, in a block labelled as such.
  function generalBlock(text) {
    return el("section", { class: "general", "aria-label": t("general_label") }, [
      el("p", { class: "general-label" }, [icon("info"), el("span", { text: t("general_label") })]),
      el("p", { class: "general-text", text }),
    ]);
  }

  async function showGlossary() {
    const result = await api("/api/glossary?lang=" + encodeURIComponent(state.lang));
    if (result.status !== 200) return failed(result, null);
    const list = el("div", { class: "glossary-list" });
    for (const term of result.data.terms) {
      list.appendChild(el("details", { class: "term" }, [
        el("summary", { text: term.name }),
        generalBlock(term.general),
        el("p", { class: "plan-label", text: t("glossary_plan") }),
        el("p", { class: "plan-text", text: term.plan }),
      ]));
    }
    const item = addMessage("bot", [el("h3", { class: "glossary-title", text: t("glossary_title") }),
      el("p", { class: "text", text: t("glossary_intro") }), list], "glossary");
    item.focus({ preventScroll: true });
    return item;
  }

  function addReply(data, pending) {
    const children = [];
    if (data.general) children.push(generalBlock(data.general));
    let body = data.answer || "";
    const citation = data.citation || "";
    if (citation && body.trimEnd().endsWith(citation)) body = body.trimEnd().slice(0, -citation.length).trimEnd();
    children.push(el("p", { class: "text answer", text: body }));
    if (citation) children.push(el("p", { class: "citation" }, [icon("book"), el("span", { text: citation })]));
    if (data.clauses && data.clauses.length && citation) children.push(clausesBlock(data.clauses));
    if (data.choices && data.choices.length) {
      children.push(buttonsBlock("", data.choices, (c) => pick(c, data.enquiry_id)));
    }
    if (data.related && data.related.length) {
      children.push(buttonsBlock(t("related_header"), data.related, (c) => pick(c, data.enquiry_id)));
    }
    if (data.decision === "answer" && data.enquiry_id) children.push(feedbackBlock(data.enquiry_id, data.lang));
    if (data.decision === "fallback") {
      children.push(el("div", { class: "buttons" }, [
        button(t("contact_staff"), () => contactStaff(data.enquiry_id), { class: "choice staff" }),
        optInButton(data.enquiry_id),
      ]));
    }
    if (data.route && window.VocbotRoute) children.push(window.VocbotRoute.offer(data.route));
    const item = addMessage("bot", children, "reply " + data.decision);
    item.setAttribute("data-decision", data.decision);
    item.setAttribute("lang", data.lang || state.lang);
    if (pending) pending.remove();
    if (data.enquiry_id) state.lastEnquiry = data.enquiry_id;
    return item;
  }

  function failed(result, pending) {
    if (pending) pending.remove();
    return addNote(problem(result), "error");
  }

  async function send(text) {
    if (state.busy) return;
    state.busy = true;
    addUser(text);
    const pending = thinking();
    const result = await api("/api/chat", { text, session: state.session, lang: state.lang,
      audience: state.audience || null });
    state.busy = false;
    if (result.status === 200) addReply(result.data, pending);
    else failed(result, pending);
  }

  async function pick(option, parentId) {
    if (state.busy) return;
    state.busy = true;
    addUser(option.title);
    const pending = thinking();
    const result = await api("/api/choice", { intent: option.intent, session: state.session, lang: state.lang,
      parent_id: parentId || null, audience: state.audience || null });
    state.busy = false;
    const item = result.status === 200 ? addReply(result.data, pending) : failed(result, pending);
    item.focus({ preventScroll: true });   // a pressed button leads to its answer, for keyboard users
  }

  async function contactStaff(enquiryId) {
    const result = await api("/api/handoff", { enquiry_id: enquiryId || state.lastEnquiry || null,
      session: state.session, lang: state.lang });
    let item;
    if (result.status === 200) {
      const children = [el("p", { class: "text", text: result.data.message })];
      if (result.data.contacts && result.data.contacts.length) {
        children.push(el("ul", { class: "contacts" }, result.data.contacts.map((line) => el("li", { text: line }))));
      }
      item = addMessage("bot", children, "handoff");
    } else {
      item = failed(result, null);
    }
    item.focus({ preventScroll: true });
  }

  // ---- the menu -----------------------------------------------------------------------------------
  function renderMenu(menu) {
    const audiences = $("audiences");
    audiences.replaceChildren();
    const all = [{ id: "", title: t("web_all_topics") }].concat(menu.audiences);
    for (const audience of all) {
      audiences.appendChild(button(audience.title, () => chooseAudience(audience), {
        class: "choice audience-choice", "aria-pressed": String(audience.id === (state.audience || "")),
        "data-audience": audience.id,
      }));
    }
    const topics = $("topics");
    topics.replaceChildren();
    for (const topic of menu.topics) {
      topics.appendChild(button(topic.title, () => showTopic(topic), { class: "choice topic", "data-topic": topic.id }));
    }
  }

  function showTopic(topic) {
    const item = addMessage("bot", [
      buttonsBlock(t("topic_header", { topic: topic.title }), topic.intents, (c) => pick(c, null)),
    ], "topic-list");
    item.focus({ preventScroll: true });
  }

  async function chooseAudience(audience) {
    state.audience = audience.id;
    store.set(KEY_AUDIENCE, audience.id || null);
    await loadMenu();
    if (audience.id) addNote(t("audience_set", { audience: audience.title }));
    const pressed = document.querySelector('.audience-choice[aria-pressed="true"]');
    if (pressed) pressed.focus();
  }

  function renderLabels(menu) {
    document.documentElement.lang = state.lang;
    document.title = t("web_title");
    $("title").textContent = t("web_title");
    $("subtitle").textContent = t("web_subtitle");
    $("menu-title").textContent = t("web_topics");
    $("audience-title").textContent = t("choose_audience");
    $("topics-title").textContent = t("menu_header");
    $("question-label").textContent = t("web_input_label");
    $("question").placeholder = t("web_placeholder");
    $("send").textContent = t("web_send");
    $("staff").textContent = t("contact_staff");
    $("route-start").textContent = t("route_button");
    $("glossary").textContent = t("glossary_title");
    $("optin-stop").textContent = t("optin_stop_link");
    $("privacy-title").textContent = t("web_privacy");
    $("privacy-text").textContent = t("privacy");
    $("langs").setAttribute("aria-label", t("web_language"));
    $("skip").textContent = t("web_input_label");
    for (const b of document.querySelectorAll(".lang")) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === state.lang));
    }
    return menu;
  }

  async function loadMenu() {
    const query = "?lang=" + encodeURIComponent(state.lang) +
      (state.audience ? "&audience=" + encodeURIComponent(state.audience) : "");
    let result = await api("/api/menu" + query);
    if (result.status === 422 && state.audience) {    // an audience that no longer exists
      state.audience = "";
      store.set(KEY_AUDIENCE, null);
      result = await api("/api/menu?lang=" + encodeURIComponent(state.lang));
    }
    if (result.status !== 200) {
      addNote(problem(result), "error");
      return false;
    }
    state.texts = result.data.messages;
    renderLabels(result.data);
    renderMenu(result.data);
    return true;
  }

  async function setLang(lang) {
    if (!LANGS.includes(lang)) return;
    state.lang = lang;
    store.set(KEY_LANG, lang);
    await loadMenu();
  }

  // ---- start --------------------------------------------------------------------------------------
  function wire() {
    const form = $("ask");
    const input = $("question");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || state.busy) return;
      input.value = "";
      // On a phone the menu would push the answers down: fold it once the conversation starts.
      if (window.matchMedia("(max-width: 899px)").matches) $("menu-details").open = false;
      send(text);
      input.focus();
    });
    input.addEventListener("keydown", (event) => {
      // Enter sends; Shift+Enter is a new line; Enter that confirms an IME composition does nothing.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    for (const b of document.querySelectorAll(".lang")) {
      b.addEventListener("click", () => setLang(b.getAttribute("data-lang")));
    }
    $("staff").addEventListener("click", () => contactStaff(null));
    $("glossary").addEventListener("click", () => showGlossary());
    $("optin-stop").addEventListener("click", stopNotices);
  }

  async function start() {
    wire();
    if (window.VocbotRoute) {
      window.VocbotRoute.init({ el, api, t, button, state, problem, addMessage, addNote, pick });
    }
    if (await loadMenu()) {
      addNote(t("welcome"), "welcome");
      await loadNotices();
    }
    document.body.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
