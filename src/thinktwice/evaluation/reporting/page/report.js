// The gallery of a thinktwice evaluation report. Plain browser JavaScript, no library, no
// network: the data is the JSON in #report-data, a ReportPage of data.py (beside this file),
// whose field names are the keys read here: DATA.images are ImageEntry, img.results[method] a
// MethodResult (or MethodError), r.per_label[i] a LabelResult. Photos are JPEG (base64) and
// maps raw uint8 (base64, map_side x map_side) coloured here through the embedded colormap
// table. Only the current page of images is drawn, so a run of thousands of images opens quickly.
"use strict";
(function () {
  const started = performance.now();
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const parsed = performance.now();
  const METHODS = DATA.methods;
  const NAMES = DATA.method_labels || {};
  const nameOf = (m) => NAMES[m] || m; // a method's display name
  const IMAGES = DATA.images;
  const LABELS = DATA.labels;
  const SIDE = DATA.map_side;
  const LUT = bytesOf(DATA.colormap);
  const THRESHOLD = DATA.iou_threshold;
  const TOLERANCE = DATA.pointing_tolerance || 15; // pixels of the photo, as TorchRay
  const CELL = 150;

  const METRICS = {
    gt: {
      name: "localization, GT label",
      outcome: (r) => (r.gt_localized == null ? null : r.gt_localized >= 1),
    },
    top1: { name: "localization top-1", outcome: (r) => (r.top1_localized == null ? null : r.top1_localized) },
    top5: { name: "localization top-5", outcome: (r) => (r.top5_localized == null ? null : r.top5_localized) },
    pointing: {
      name: "pointing game",
      outcome: (r) => {
        const trials = r.per_label.map((k) => k.point_hit).filter((v) => v !== null && v !== undefined);
        return trials.length ? trials.every(Boolean) : null;
      },
    },
  };
  // The hit / miss criteria the run measured (any other would leave every image unscored).
  const MEASURED = Object.keys(METRICS).filter((key) => IMAGES.some((img) => METHODS.some((m) => {
    const r = img.results[m];
    return r && !r.error && METRICS[key].outcome(r) !== null;
  })));
  const CRITERIA = MEASURED.length ? MEASURED : Object.keys(METRICS);
  const SORTS = {
    id: "image id",
    label: "class",
    iouA: "IoU of method A",
    iouDiff: "IoU of A minus IoU of B",
  };

  const first = METHODS.includes("feedback") ? "feedback" : METHODS[0];
  const second = METHODS.find((m) => m === "gradient" && m !== first) ||
    METHODS.find((m) => m !== first) || first;
  const state = {
    metric: CRITERIA[0], shown: new Set(METHODS), a: first, aOut: "any", b: second, bOut: "any",
    label: -1, search: "", sort: "id", desc: false, page: 0, pageSize: 25, overlay: true,
  };
  const rowLabel = new Map(); // image id -> index of the ground-truth label drawn in its row
  const photos = new Map(); // image id -> Promise of a decoded photo (current page only)
  let matching = [];
  let renderToken = 0;
  const timing = { scriptStart: started, dataParsed: parsed, firstRender: null, renders: 0, lastRender: null };
  window.thinktwiceReport = timing;

  // --- data helpers ---------------------------------------------------------------------------

  function bytesOf(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  function outcome(img, method) {
    const r = img.results[method];
    if (!r || r.error) return null;
    return METRICS[state.metric].outcome(r);
  }

  function outcomeOk(img, method, want) {
    if (want === "any") return true;
    const o = outcome(img, method);
    return o !== null && o === (want === "hit");
  }

  function labelText(img) {
    return (img.labels || []).map((l) => LABELS[l]).join(", ");
  }

  function passesLabelAndSearch(img) {
    if (state.label >= 0 && !(img.labels || []).includes(state.label)) return false;
    if (state.search) {
      const needle = state.search.toLowerCase();
      if (!img.id.toLowerCase().includes(needle) && !labelText(img).toLowerCase().includes(needle))
        return false;
    }
    return true;
  }

  function shownLabel(img) {
    const labels = img.labels || [];
    if (state.label >= 0 && labels.includes(state.label)) return labels.indexOf(state.label);
    return Math.min(rowLabel.get(img.id) || 0, Math.max(labels.length - 1, 0));
  }

  function iouOf(img, method) {
    const r = img.results[method];
    if (!r || r.error) return -1;
    const k = r.per_label[shownLabel(img)];
    return k ? (k.iou === null ? 0 : k.iou) : -1;
  }

  function sortKey(img, index) {
    switch (state.sort) {
      case "label": return [labelText(img), index];
      case "iouA": return [iouOf(img, state.a), index];
      case "iouDiff": return [iouOf(img, state.a) - iouOf(img, state.b), index];
      default: return [index, 0];
    }
  }

  function compareKeys(x, y) {
    for (let i = 0; i < x.length; i++) {
      if (x[i] < y[i]) return -1;
      if (x[i] > y[i]) return 1;
    }
    return 0;
  }

  function applyFilters() {
    const keyed = [];
    IMAGES.forEach((img, index) => {
      if (passesLabelAndSearch(img) && outcomeOk(img, state.a, state.aOut) &&
          outcomeOk(img, state.b, state.bOut)) keyed.push([sortKey(img, index), img]);
    });
    const sign = state.desc ? -1 : 1;
    keyed.sort((x, y) => sign * compareKeys(x[0], y[0]) || compareKeys([x[0][1]], [y[0][1]]));
    matching = keyed.map((pair) => pair[1]);
    const pages = Math.max(1, Math.ceil(matching.length / state.pageSize));
    state.page = Math.min(state.page, pages - 1);
  }

  // --- controls -------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function select(id, options, value, onChange) {
    const node = el("select", { id, onchange: (e) => onChange(e.target.value) },
      options.map(([v, text]) => el("option", { value: v, text })));
    node.value = value;
    return node;
  }

  function update(changes) {
    Object.assign(state, changes);
    if (!("page" in changes)) state.page = 0;
    refresh();
  }

  function buildControls() {
    const methodOptions = METHODS.map((m) => [m, nameOf(m)]);
    const outcomes = [["any", "any"], ["hit", "hits"], ["miss", "misses"]];
    const counts = new Map();
    for (const img of IMAGES) for (const l of new Set(img.labels || [])) counts.set(l, (counts.get(l) || 0) + 1);
    const labelOptions = [[-1, `all classes (${LABELS.length})`]].concat(
      [...counts.keys()].sort((x, y) => LABELS[x].localeCompare(LABELS[y]))
        .map((l) => [l, `${LABELS[l]} (${counts.get(l)})`]));
    const controls = document.getElementById("controls");
    controls.replaceChildren(
      el("fieldset", {}, [el("legend", { text: "hit / miss by" }),
        select("metric", CRITERIA.map((k) => [k, METRICS[k].name]), state.metric,
          (v) => update({ metric: v }))]),
      el("fieldset", {}, [el("legend", { text: "methods shown" })].concat(METHODS.map((m) =>
        el("label", {}, [el("input", {
          type: "checkbox", name: "show-method", value: m, checked: "checked",
          onchange: (e) => { e.target.checked ? state.shown.add(m) : state.shown.delete(m); update({}); },
        }), " " + nameOf(m)])))),
      el("fieldset", {}, [el("legend", { text: "images where" }),
        select("method-a", methodOptions, state.a, (v) => update({ a: v })),
        select("outcome-a", outcomes, state.aOut, (v) => update({ aOut: v })),
        document.createTextNode(" and "),
        select("method-b", methodOptions, state.b, (v) => update({ b: v })),
        select("outcome-b", outcomes, state.bOut, (v) => update({ bOut: v }))]),
      el("fieldset", {}, [el("legend", { text: "class" }),
        select("label", labelOptions, state.label, (v) => update({ label: Number(v) })),
        el("input", { type: "search", id: "search", placeholder: "image id or class",
          oninput: (e) => update({ search: e.target.value.trim() }) })]),
      el("fieldset", {}, [el("legend", { text: "sort" }),
        select("sort", Object.entries(SORTS), state.sort, (v) => update({ sort: v })),
        select("sort-dir", [["asc", "ascending"], ["desc", "descending"]], "asc",
          (v) => update({ desc: v === "desc" }))]),
      el("fieldset", {}, [el("legend", { text: "view" }),
        el("label", {}, [el("input", { type: "checkbox", id: "overlay", checked: "checked",
          onchange: (e) => update({ overlay: e.target.checked, page: state.page }) }), " maps over photos"]),
        select("page-size", [[10, "10"], [25, "25"], [50, "50"], [100, "100"]].map(([v, t]) => [v, t + " / page"]),
          state.pageSize, (v) => update({ pageSize: Number(v) }))]),
    );
  }

  function renderPairTable() {
    const a = state.a, b = state.b, na = nameOf(a), nb = nameOf(b);
    const cells = { hithit: 0, hitmiss: 0, misshit: 0, missmiss: 0 };
    let unscored = 0;
    for (const img of IMAGES) {
      if (!passesLabelAndSearch(img)) continue;
      const oa = outcome(img, a), ob = outcome(img, b);
      if (oa === null || ob === null) { unscored++; continue; }
      cells[(oa ? "hit" : "miss") + (ob ? "hit" : "miss")]++;
    }
    const button = (outA, outB) => {
      const selected = state.aOut === outA && state.bOut === outB;
      return el("td", { class: selected ? "selected" : null }, [el("button", {
        "data-pair": outA + outB, text: String(cells[outA + outB]),
        onclick: () => update({ aOut: outA, bOut: outB }),
      })]);
    };
    const n = cells.hithit + cells.hitmiss + cells.misshit + cells.missmiss;
    const rate = (hits) => (n ? ((100 * hits) / n).toFixed(1) + "%" : "n/a");
    const pair = document.getElementById("pair");
    pair.replaceChildren(
      el("div", { class: "legend", text:
        `Paired, by ${METRICS[state.metric].name}: ${na} against ${nb} on the same images ` +
        `(hit rate ${na} ${rate(cells.hithit + cells.hitmiss)}, ${nb} ${rate(cells.hithit + cells.misshit)}` +
        (unscored ? `; ${unscored} not scored by one of them` : "") + "). Click a count to list those images." }),
      el("table", {}, [
        el("tr", {}, [el("th", {}), el("th", { text: `${nb} hits` }), el("th", { text: `${nb} misses` })]),
        el("tr", {}, [el("th", { text: `${na} hits` }), button("hit", "hit"), button("hit", "miss")]),
        el("tr", {}, [el("th", { text: `${na} misses` }), button("miss", "hit"), button("miss", "miss")]),
      ]),
    );
  }

  // --- drawing --------------------------------------------------------------------------------

  function loadPhoto(img) {
    if (!img.photo) return Promise.resolve(null);
    if (!photos.has(img.id)) {
      const image = new Image();
      image.src = "data:image/jpeg;base64," + img.photo;
      photos.set(img.id, image.decode().then(() => image, () => null));
    }
    return photos.get(img.id);
  }

  function mapCanvas(base64) {
    const values = bytesOf(base64);
    const canvas = document.createElement("canvas");
    canvas.width = SIDE;
    canvas.height = SIDE;
    const ctx = canvas.getContext("2d");
    const pixels = ctx.createImageData(SIDE, SIDE);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] * 3;
      pixels.data[4 * i] = LUT[v];
      pixels.data[4 * i + 1] = LUT[v + 1];
      pixels.data[4 * i + 2] = LUT[v + 2];
      pixels.data[4 * i + 3] = 255;
    }
    ctx.putImageData(pixels, 0, 0);
    return canvas;
  }

  function fit(img, size) {
    const w = img.width || 1, h = img.height || 1;
    const scale = Math.min(size / w, size / h);
    return { scale, x: (size - w * scale) / 2, y: (size - h * scale) / 2, w: w * scale, h: h * scale };
  }

  function strokeBox(ctx, frame, box, colour, dashed, width) {
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    if (dashed) ctx.setLineDash([4, 3]);
    const [x0, y0, x1, y1] = box;
    ctx.strokeRect(frame.x + x0 * frame.scale, frame.y + y0 * frame.scale,
      (x1 - x0 + 1) * frame.scale, (y1 - y0 + 1) * frame.scale);
    ctx.restore();
  }

  // Where the map pointed (the pointing game's maximum): a cross, and the circle of the game's
  // tolerance around it, green for a hit and red for a miss.
  function markPoint(ctx, frame, point, hit) {
    const x = frame.x + (point[0] + 0.5) * frame.scale, y = frame.y + (point[1] + 0.5) * frame.scale;
    const radius = Math.max(3, TOLERANCE * frame.scale);
    ctx.save();
    ctx.lineWidth = 2;
    for (const [colour, width] of [["#000", 4], [hit ? "#1a9850" : "#d73027", 2]]) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.moveTo(x - 5, y); ctx.lineTo(x + 5, y);
      ctx.moveTo(x, y - 5); ctx.lineTo(x, y + 5);
      ctx.stroke();
    }
    ctx.restore();
  }

  // One picture: the photo, or a method's map over it, with ground truth and the method's box.
  function draw(canvas, img, photo, method, size) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(size * ratio);
    canvas.height = Math.round(size * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, size, size);
    const frame = fit(img, size);
    const label = shownLabel(img);
    const entry = method ? img.results[method] : null;
    const k = entry && !entry.error ? entry.per_label[label] : null;
    if (photo && (!method || state.overlay || !(k && k.map))) ctx.drawImage(photo, frame.x, frame.y, frame.w, frame.h);
    if (k && k.map) {
      ctx.save();
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.globalAlpha = state.overlay && photo ? 0.65 : 1;
      ctx.drawImage(mapCanvas(k.map), frame.x, frame.y, frame.w, frame.h);
      ctx.restore();
    }
    const wanted = img.labels ? img.labels[label] : undefined;
    for (const gt of img.ground_truth || []) {
      if (!method || gt.label === wanted) strokeBox(ctx, frame, gt.box, "#39ff14", true, 1.5);
    }
    if (k && k.box) strokeBox(ctx, frame, k.box, "#00e5ff", false, 2);
    if (k && k.point) markPoint(ctx, frame, k.point, k.point_hit);
    if (method && !(k && k.map)) {
      ctx.fillStyle = "#ccc";
      ctx.font = "12px sans-serif";
      ctx.fillText(entry && entry.error ? "unreadable" : "no map stored", 8, size - 10);
    }
  }

  function methodCaption(img, method) {
    const r = img.results[method];
    if (!r) return [el("span", { text: "not evaluated" })];
    if (r.error) return [el("span", { class: "bad", text: "unreadable: " + r.error })];
    const k = r.per_label[shownLabel(img)];
    const parts = [];
    if (!k) parts.push(el("span", { text: "no ground-truth label" }));
    else if (k.box) {
      const ok = k.iou >= THRESHOLD;
      parts.push(el("span", { class: ok ? "ok" : "bad", text: `IoU ${k.iou.toFixed(2)} ${ok ? "\u2713" : "\u2717"}` }));
    } else if (k.no_box_reason || r.gt_localized != null)
      parts.push(el("span", { class: "bad", text: k.no_box_reason || "no box" }));
    if (k && k.point_hit !== null && k.point_hit !== undefined)
      parts.push(el("span", { class: k.point_hit ? "ok" : "bad", text: `  point ${k.point_hit ? "\u2713" : "\u2717"}` }));
    if (r.gt_localized !== null && r.gt_localized !== undefined && (img.labels || []).length > 1)
      parts.push(el("div", { text: `labels localized: ${Math.round(r.gt_localized * img.labels.length)}/${img.labels.length}` }));
    const aucs = [["deletion", r.deletion_auc], ["insertion", r.insertion_auc]].filter(([, v]) => v !== null && v !== undefined);
    if (aucs.length) parts.push(el("div", { text: aucs.map(([n, v]) => `${n} AUC ${v.toFixed(3)}`).join(", ") }));
    return parts;
  }

  function photoCaption(img, redraw) {
    const chips = (img.labels || []).map((l, i) => el("span", {
      class: "chip" + (i === shownLabel(img) ? " on" : ""), text: LABELS[l], title: "show this label's maps",
      onclick: () => { rowLabel.set(img.id, i); redraw(); },
    }));
    const top = img.top1_name ? [el("div", {}, [
      "top-1: " + img.top1_name + " ",
      el("span", { class: img.top1_correct ? "ok" : "bad", text: img.top1_correct ? "\u2713" : "\u2717" })])] : [];
    return [el("div", { class: "id", text: img.id }), el("div", {}, chips)].concat(top);
  }

  function outcomeClass(img, method) {
    const o = outcome(img, method);
    return o === null ? "na" : o ? "hit" : "miss";
  }

  function buildRow(img) {
    const methods = METHODS.filter((m) => state.shown.has(m));
    const row = el("tr", { "data-image-id": img.id });
    const photoCanvas = el("canvas", { width: CELL, height: CELL, title: "click to enlarge" });
    const photoCell = el("td", { class: "photo" }, [photoCanvas, el("div", { class: "cap" })]);
    row.append(photoCell);
    const cells = methods.map((m) => {
      const canvas = el("canvas", { width: CELL, height: CELL, title: `${nameOf(m)}: click to enlarge` });
      const cell = el("td", { class: outcomeClass(img, m), "data-method": m, "data-outcome": outcomeClass(img, m) },
        [canvas, el("div", { class: "cap" })]);
      row.append(cell);
      return [m, canvas, cell];
    });
    const paint = (photo) => {
      draw(photoCanvas, img, photo, null, CELL);
      photoCell.lastChild.replaceChildren(...photoCaption(img, () => paint(photo)));
      for (const [m, canvas, cell] of cells) {
        draw(canvas, img, photo, m, CELL);
        cell.lastChild.replaceChildren(...methodCaption(img, m));
      }
    };
    row.addEventListener("click", (e) => { if (e.target.tagName === "CANVAS") openZoom(img); });
    return [row, paint];
  }

  async function renderGallery() {
    const token = ++renderToken;
    const start = state.page * state.pageSize;
    const pageImages = matching.slice(start, start + state.pageSize);
    const methods = METHODS.filter((m) => state.shown.has(m));
    const head = el("tr", {}, [el("th", { text: "photo, ground truth" })].concat(methods.map((m) =>
      el("th", {}, [el("span", { class: "swatch", style: `background:${DATA.colours[m]}` }), nameOf(m)]))));
    const body = el("tbody");
    const rows = pageImages.map((img) => buildRow(img));
    for (const [row] of rows) body.append(row);
    const gallery = document.getElementById("gallery");
    gallery.replaceChildren(
      el("div", { class: "legend" }, [el("i", { style: "border-top:2px dashed #39ff14" }), "ground truth",
        el("i", { style: "border-top:2px solid #00e5ff" }), "method's box",
        el("span", { class: "pointmark", text: "\u2295" }), `where the map points (${TOLERANCE} px circle)`,
        el("i", { style: "border-top:3px solid var(--hit)" }), "hit",
        el("i", { style: "border-top:3px solid var(--miss)" }),
        `miss (by ${METRICS[state.metric].name}); IoU of the shown label's box, \u2713 at \u2265 ${THRESHOLD}`]),
      el("table", { class: "gallery" }, [el("thead", {}, [head]), body]));
    const keep = new Set(pageImages.map((img) => img.id));
    for (const id of [...photos.keys()]) if (!keep.has(id)) photos.delete(id);
    const decoded = await Promise.all(pageImages.map(loadPhoto));
    if (token !== renderToken) return;
    rows.forEach(([, paint], i) => paint(decoded[i]));
    timing.renders++;
    timing.lastRender = performance.now();
    if (timing.firstRender === null) {
      timing.firstRender = timing.lastRender;
      document.body.dataset.rendered = "true";
    }
  }

  function renderStatus() {
    const pages = Math.max(1, Math.ceil(matching.length / state.pageSize));
    const verb = { hit: "hits", miss: "misses" };
    const filter = [state.aOut !== "any" ? `${nameOf(state.a)} ${verb[state.aOut]}` : "",
      state.bOut !== "any" ? `${nameOf(state.b)} ${verb[state.bOut]}` : ""].filter(Boolean).join(", ");
    document.getElementById("status").textContent =
      `${matching.length} of ${IMAGES.length} images` + (filter ? ` (${filter})` : "") +
      ` \u2014 page ${state.page + 1} of ${pages}`;
    const pager = document.getElementById("pager");
    pager.replaceChildren(
      el("button", { id: "prev", disabled: state.page === 0 ? "disabled" : null, text: "\u2190 previous",
        onclick: () => { update({ page: state.page - 1 }); window.scrollTo(0, document.getElementById("gallery-section").offsetTop); } }),
      el("span", { text: `page ${state.page + 1} of ${pages}` }),
      el("button", { id: "next", disabled: state.page >= pages - 1 ? "disabled" : null, text: "next \u2192",
        onclick: () => { update({ page: state.page + 1 }); window.scrollTo(0, document.getElementById("gallery-section").offsetTop); } }));
  }

  function openZoom(img) {
    const zoom = document.getElementById("zoom");
    const size = 300;
    const figures = [null].concat(METHODS).map((m) => {
      const canvas = el("canvas", { width: size, height: size });
      const caption = m ? [el("b", { text: nameOf(m) + ": " })].concat(methodCaption(img, m)) : photoCaption(img, () => openZoom(img));
      return [m, canvas, el("figure", {}, [canvas, el("figcaption", {}, caption)])];
    });
    zoom.replaceChildren(el("button", { class: "close", text: "\u00d7", title: "close (Esc)", onclick: closeZoom }),
      el("h3", { text: `${img.id} \u2014 ${labelText(img)}` }), el("div", { class: "grid" }, figures.map((f) => f[2])));
    zoom.hidden = false;
    loadPhoto(img).then((photo) => { for (const [m, canvas] of figures) draw(canvas, img, photo, m, size); });
  }

  function closeZoom() {
    document.getElementById("zoom").hidden = true;
  }

  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeZoom(); });
  document.getElementById("zoom").addEventListener("click", (e) => { if (e.target.id === "zoom") closeZoom(); });

  function refresh() {
    applyFilters();
    renderPairTable();
    renderStatus();
    return renderGallery();
  }

  buildControls();
  refresh();
})();
