/* The VPC topology picture (console/vpc_graph.py builds the document, pages_vpc.py serves it).
 *
 * It polls the graph document every few seconds with If-None-Match: an unchanged VPC answers 304 and nothing
 * is redrawn; a changed one is redrawn in place, keeping the user's zoom and pan. Positions come with the
 * document, so nothing moves unless the VPC changed. The list under the picture is its text alternative,
 * rebuilt with DOM methods (never innerHTML: names are user data). Runs under a CSP without inline script.
 */
(function () {
  "use strict";
  var box = document.getElementById("topology");
  if (!box || typeof cytoscape !== "function") { return; }
  var url = box.dataset.graphUrl;
  var every = Math.max(1, Number(box.dataset.pollSeconds) || 3) * 1000;
  var highlight = JSON.parse(box.dataset.highlight || "[]");
  var blocked = JSON.parse(box.dataset.blocked || "[]");
  var status = document.getElementById("topology-status");
  var text = document.getElementById("topology-text");
  var etag = null;
  var cy = null;
  var userMoved = false;  // once the user zooms or pans, a redraw keeps their view instead of refitting
  ["wheel", "pointerdown"].forEach(function (name) {
    box.addEventListener(name, function () { userMoved = true; }, { passive: true });
  });

  var STYLE = [
    { selector: "node", style: { "label": "data(label)", "text-wrap": "wrap", "font-size": 9, "color": "#1a1a1a",
      "text-valign": "bottom", "text-margin-y": 3, "width": 22, "height": 22, "background-color": "#4a6fa5" } },
    { selector: ":parent", style: { "text-valign": "top", "text-halign": "center", "background-opacity": 0.06,
      "border-width": 1, "border-color": "#767676", "padding": 18, "font-weight": "bold" } },
    { selector: "node.vpc", style: { "background-color": "#0b57a4", "border-width": 2, "border-color": "#0b57a4" } },
    { selector: "node.zone", style: { "background-color": "#17212f", "border-style": "dashed" } },
    { selector: "node.subnet", style: { "background-color": "#0f6b2f", "border-color": "#0f6b2f",
      "shape": "round-rectangle", "width": 150, "height": 30 } },
    { selector: "node.eni", style: { "shape": "ellipse", "background-color": "#4a6fa5" } },
    { selector: "node.instance", style: { "shape": "round-rectangle", "background-color": "#17212f" } },
    { selector: "node.nat, node.igw, node.eigw, node.endpoint, node.peering",
      style: { "shape": "diamond", "background-color": "#7a4d00", "width": 28, "height": 28 } },
    { selector: "node.route-table", style: { "shape": "rectangle", "background-color": "#5b2a86" } },
    { selector: "node.security-group", style: { "shape": "hexagon", "background-color": "#a11a1a" } },
    { selector: "edge", style: { "width": 1.5, "curve-style": "bezier", "line-color": "#767676",
      "target-arrow-shape": "triangle", "target-arrow-color": "#767676" } },
    // Labels only where there is one: a label per edge (even empty) is most of the drawing time of a VPC
    // with hundreds of interfaces.
    { selector: "edge[?label]", style: { "font-size": 8, "label": "data(label)", "text-background-color": "#ffffff",
      "text-background-opacity": 0.8, "text-rotation": "autorotate" } },
    { selector: "edge.serves", style: { "line-color": "#5b2a86", "target-arrow-color": "#5b2a86", "line-style": "dashed" } },
    { selector: "edge.route", style: { "line-color": "#7a4d00", "target-arrow-color": "#7a4d00" } },
    { selector: "edge.sg-reference", style: { "line-color": "#a11a1a", "target-arrow-color": "#a11a1a", "width": 2.5 } },
    // Hundreds of faint membership lines: straight ("haystack") lines draw far faster than curves.
    { selector: "edge.member", style: { "opacity": 0.15, "target-arrow-shape": "none", "curve-style": "haystack" } },
    { selector: "edge.attachment", style: { "target-arrow-shape": "none", "line-color": "#17212f" } },
    { selector: "node.on-path", style: { "border-width": 4, "border-color": "#f5a623", "z-index": 10 } },
    { selector: "edge.on-path", style: { "line-color": "#f5a623", "target-arrow-color": "#f5a623", "opacity": 1,
      "width": 4, "z-index": 10 } },
    { selector: "node.stopped-at", style: { "border-width": 4, "border-color": "#a11a1a", "background-color": "#a11a1a",
      "z-index": 10 } }
  ];

  function say(message) { if (status) { status.textContent = message; } }

  // The analysed path: its components, and every edge between two of them (membership, group reference).
  function mark(graph) {
    var onPath = {};
    highlight.forEach(function (id) { onPath[id] = true; graph.getElementById(id).addClass("on-path"); });
    graph.edges().filter(function (edge) {
      return onPath[edge.source().id()] && onPath[edge.target().id()];
    }).addClass("on-path");
    blocked.forEach(function (id) { graph.getElementById(id).addClass("stopped-at"); });
  }

  function draw(doc) {
    var elements = doc.elements.nodes.concat(doc.elements.edges);
    if (cy === null) {
      cy = cytoscape({ container: box, elements: elements, style: STYLE, layout: { name: "preset" },
        minZoom: 0.1, maxZoom: 3, pixelRatio: 1, textureOnViewport: true, hideEdgesOnViewport: true });
    } else {
      cy.batch(function () { cy.elements().remove(); cy.add(elements); });
    }
    if (!userMoved) { cy.fit(undefined, 20); }
    mark(cy);
    box.dataset.digest = doc.digest;
    describe(doc.summary);
  }

  function element(tag, content, attributes) {
    var node = document.createElement(tag);
    if (content) { node.textContent = content; }
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    return node;
  }

  function describe(zones) {
    if (!text) { return; }
    var list = element("ul", "", { "class": "zones" });
    zones.forEach(function (zone) {
      var item = element("li", "", {});
      item.appendChild(element("strong", zone.zone || "(no zone)", {}));
      var subnets = element("ul", "", {});
      zone.subnets.forEach(function (subnet) {
        var counts = subnet.counts;
        subnets.appendChild(element("li", subnet.id + (subnet.name ? " (" + subnet.name + ")" : "") + " · " +
          subnet.cidr + " · " + counts.instance + " instances, " + counts.eni + " network interfaces" +
          (counts.nat ? ", " + counts.nat + " NAT gateways" : ""), { "data-subnet": subnet.id }));
      });
      item.appendChild(subnets);
      list.appendChild(item);
    });
    if (!zones.length) { list.appendChild(element("li", "No subnets.", {})); }
    text.replaceChildren(list);
  }

  function refresh() {
    var headers = { "Accept": "application/json" };
    if (etag) { headers["If-None-Match"] = etag; }
    return fetch(url, { headers: headers, credentials: "same-origin", redirect: "manual" }).then(function (response) {
      if (response.status === 304) { return null; }
      if (response.type === "opaqueredirect" || response.status === 401) {  // signed out: the sign-in page
        window.location.reload();
        return null;
      }
      return response.json().then(function (doc) {
        if (!response.ok) {
          say("Cannot read the VPC: " + doc.error.code + ": " + doc.error.message);
          return;
        }
        etag = response.headers.get("ETag");
        draw(doc);
        say("Up to date as of " + new Date().toLocaleTimeString() + ".");
      });
    }).catch(function (problem) { say("Cannot reach the console: " + problem.message); });
  }

  function loop() { refresh().then(function () { window.setTimeout(loop, every); }); }
  loop();
}());
