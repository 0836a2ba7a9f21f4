// gavel annotation app: keyboard-first labelling, the guideline panel, uploads.
// No build step; loaded with `defer` on every page (inline scripts are blocked by the CSP).
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => ($('meta[name="csrf"]') || {}).content || "";

  // Confirmations and "back" links without inline handlers.
  $$("[data-confirm]").forEach((b) => b.addEventListener("click", (e) => {
    if (!window.confirm(b.dataset.confirm)) e.preventDefault();
  }));
  $$("[data-back]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); history.back(); }));

  // New-project form: show the fields of the chosen task kind.
  const kindForm = $("[data-kind-form]");
  if (kindForm) {
    const select = $("[data-kind]", kindForm);
    const sync = () => $$("[data-for]", kindForm).forEach((el) => { el.hidden = el.dataset.for !== select.value; });
    select.addEventListener("change", sync);
    sync();
  }

  // File uploads through the JSON API (any format gavel reads, Parquet included).
  $$("form[data-upload]").forEach((form) => form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("input[type=file]", form).files[0];
    const out = $("output", form);
    if (!file) { out.textContent = "Choose a file first."; return; }
    out.textContent = "Uploading…";
    try {
      const res = await fetch(form.dataset.upload + "?name=" + encodeURIComponent(file.name), {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "x-csrf-token": csrf(), "content-type": "application/octet-stream" },
      });
      const body = await res.json();
      if (!res.ok) { out.textContent = body.error || "Failed."; return; }
      out.textContent = "Done: " + JSON.stringify(body);
      setTimeout(() => location.reload(), 700);
    } catch (err) { out.textContent = "Failed: " + err; }
  }));

  // ---- the labelling page ----
  const form = $("#labelform");
  const guide = $("#guide");
  const skipDialog = $("#skipdialog");
  const openGuide = () => { if (guide) { guide.hidden = false; guide.focus && guide.focus(); } };
  const closeGuide = () => { if (guide) guide.hidden = true; };
  $$("[data-open-guide]").forEach((b) => b.addEventListener("click", openGuide));
  $$("[data-close-guide]").forEach((b) => b.addEventListener("click", closeGuide));

  let sent = false;
  const send = (choice) => {
    if (!form || sent) return;
    const reason = $("textarea[name=reason]", form);
    if (form.dataset.requireReason === "yes" && reason && !reason.value.trim()) {
      $(".reason", form).open = true;
      reason.placeholder = "A reason is required: write it, then press the key again.";
      reason.focus();
      return;
    }
    sent = true;
    if (choice !== undefined) {
      const hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "choice"; hidden.value = choice;
      form.appendChild(hidden);
    }
    $$("button", form).forEach((b) => { b.disabled = true; });
    form.submit();
  };
  if (form) {
    // A click on an answer button: the button's own value is sent; block double submits.
    form.addEventListener("submit", (e) => {
      if (sent) { e.preventDefault(); return; }
      const btn = e.submitter;
      if (btn && btn.name === "choice") { e.preventDefault(); send(btn.value); }
      else if (form.dataset.kind === "binary") {
        const missing = $$("fieldset.criterion", form).find((f) => !$("input:checked", f));
        if (missing) { e.preventDefault(); setCurrent(missing); return; }
        e.preventDefault(); send();
      }
    });
  }

  // Binary criteria: a current criterion moves down as answers are given.
  let current = null;
  const setCurrent = (f) => {
    $$("fieldset.criterion").forEach((x) => x.classList.toggle("current", x === f));
    current = f;
  };
  if (form && form.dataset.kind === "binary") {
    const first = $$("fieldset.criterion").find((f) => !$("input:checked", f)) || $("fieldset.criterion");
    setCurrent(first);
    $$("fieldset.criterion input").forEach((i) => i.addEventListener("change", () => setCurrent(i.closest("fieldset"))));
  }
  const answerCriterion = (value) => {
    if (!current) return;
    const input = $(`input[value="${value}"]`, current);
    if (input) input.checked = true;
    const all = $$("fieldset.criterion");
    const next = all.find((f) => !$("input:checked", f));
    if (next) setCurrent(next); else send();
  };
  const moveCriterion = (d) => {
    const all = $$("fieldset.criterion");
    const i = all.indexOf(current);
    if (all[i + d]) setCurrent(all[i + d]);
  };

  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type)));

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key;
    if (key === "Escape") {
      if (guide && !guide.hidden) { closeGuide(); e.preventDefault(); return; }
      if (typing(document.activeElement)) { document.activeElement.blur(); e.preventDefault(); }
      return;
    }
    if (skipDialog && skipDialog.open) {
      if (typing(document.activeElement)) return;
      const n = parseInt(key, 10);
      const opts = $$("input[name=reason]", skipDialog);
      if (n >= 1 && n <= opts.length) {
        opts[n - 1].checked = true;
        e.preventDefault();
        if (opts[n - 1].value === "other") { $("input[name=other]", skipDialog).focus(); }
        else { $("#skipform").submit(); }
      }
      return;
    }
    if (typing(document.activeElement)) return;
    if (key === "g" || key === "?") { e.preventDefault(); guide && guide.hidden ? openGuide() : closeGuide(); return; }
    if (guide && !guide.hidden) return;
    if (!form) return;
    if (key === "r") { e.preventDefault(); const d = $(".reason", form); d.open = true; $("textarea", d).focus(); return; }
    if (key === "s" && skipDialog) { e.preventDefault(); skipDialog.showModal(); return; }
    if (key === "h") { location.href = location.pathname.replace(/\/(label|a\/\d+)$/, "/history"); return; }
    if (key === "u") { location.href = location.pathname.replace(/\/(label|a\/\d+)$/, "/history") + "#previous"; return; }
    const kind = form.dataset.kind;
    if (kind === "pairwise") {
      const tie = form.dataset.tie === "yes";
      if (key === "1" || key === "ArrowLeft" || key === "a") { e.preventDefault(); send("left"); }
      else if (key === "2" || key === "ArrowRight" || key === "b") { e.preventDefault(); send("right"); }
      else if (tie && (key === "3" || key === "ArrowDown" || key === "t" || key === "=")) { e.preventDefault(); send("tie"); }
    } else if (kind === "likert") {
      const btn = $$("button.answer", form).find((b) => b.dataset.key === key);
      if (btn) { e.preventDefault(); send(btn.value); }
    } else if (kind === "binary") {
      if (key === "p" || key === "y") { e.preventDefault(); answerCriterion("pass"); }
      else if (key === "f" || key === "n") { e.preventDefault(); answerCriterion("fail"); }
      else if (key === "ArrowDown" || key === "j") { e.preventDefault(); moveCriterion(1); }
      else if (key === "ArrowUp" || key === "k") { e.preventDefault(); moveCriterion(-1); }
      else if (key === "Enter") { e.preventDefault(); form.requestSubmit(); }
    }
  });
  if (skipDialog) {
    $$("[data-close]", skipDialog).forEach((b) => b.addEventListener("click", () => skipDialog.close()));
    $("[data-open-skip]") && $("[data-open-skip]").addEventListener("click", () => skipDialog.showModal());
  }
  // History page: "U" on the labelling page opens the latest label.
  if (location.hash === "#previous") {
    const prev = $("a[data-previous]");
    if (prev) location.replace(prev.href);
  }
})();
