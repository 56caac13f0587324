// Enhancements for the back office. Every form also works without them; they add the
// stock dialogs, "select all", the print button and the dashboard's live rows.
(function () {
  'use strict';

  var opener = null;

  function firstField(dlg) {
    return dlg.querySelector('[aria-invalid="true"]') ||
      dlg.querySelector('input:not([type=hidden]), select, textarea');
  }

  function show(dlg) {
    if (dlg.open) dlg.close();
    dlg.showModal();
    var f = firstField(dlg);
    if (f) f.focus();
  }

  function openFor(btn) {
    var dlg = document.getElementById(btn.dataset.dialog);
    if (!dlg) return;
    var form = dlg.querySelector('form');
    var sku = btn.dataset.sku, loc = btn.dataset.location, onHand = btn.dataset.onHand;
    // A fresh dialog: nothing left over from another row or an earlier error.
    dlg.querySelectorAll('.field-error, [role=alert]').forEach(function (n) { n.remove(); });
    dlg.querySelectorAll('[aria-invalid]').forEach(function (n) {
      n.removeAttribute('aria-invalid');
      n.removeAttribute('aria-describedby');
    });
    form.querySelectorAll('input[type=number], input[name=reference]').forEach(function (i) { i.value = ''; });
    form.elements.sku.value = sku;
    form.elements.location.value = loc;
    if (form.elements.expected_on_hand) form.elements.expected_on_hand.value = onHand;
    dlg.querySelectorAll('.js-target').forEach(function (n) { n.textContent = sku + ' at ' + loc; });
    dlg.querySelectorAll('.js-current').forEach(function (n) { n.textContent = onHand; });
    opener = btn;
    show(dlg);
  }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('.js-open');
    if (btn) { openFor(btn); return; }
    var close = e.target.closest('.js-close');
    if (close) { close.closest('dialog').close(); }
  });

  document.querySelectorAll('dialog').forEach(function (dlg) {
    dlg.addEventListener('close', function () {
      if (opener && document.body.contains(opener)) opener.focus();
    });
    // Re-rendered after a refusal: show it as the modal it was.
    if (dlg.hasAttribute('open')) show(dlg);
  });

  document.querySelectorAll('.js-print').forEach(function (b) {
    b.addEventListener('click', function () { window.print(); });
  });

  document.querySelectorAll('.js-select-all').forEach(function (all) {
    all.addEventListener('change', function () {
      all.form.querySelectorAll('input[name=order]').forEach(function (c) { c.checked = all.checked; });
    });
  });

  var latest = document.getElementById('latest-orders');
  if (latest && window.EventSource) {
    var max = parseInt(latest.dataset.max, 10) || 10;
    var status = document.getElementById('live-status');
    var source = new EventSource('/events/stream?after=' + encodeURIComponent(latest.dataset.after));
    source.addEventListener('order', function (e) {
      latest.insertAdjacentHTML('afterbegin', e.data);
      var row = latest.firstElementChild;
      row.classList.add('new');
      while (latest.children.length > max) latest.lastElementChild.remove();
      var link = row.querySelector('a');
      if (status && link) status.textContent = 'New order ' + link.textContent + '.';
    });
  }
})();

// Routing rules: drag a row, or use its Up/Down buttons, to reorder. Each row carries its
// rule's name in a hidden field, so the form posts the names in the order the rows show.
(function () {
  'use strict';

  var form = document.getElementById('reorder-form');
  if (!form) return;
  var body = form.querySelector('tbody');
  var said = document.getElementById('order-status');
  var dragged = null;

  function rows() { return body.querySelectorAll('tr[data-rule]'); }

  function renumber(moved) {
    var all = rows(), at = 0;
    all.forEach(function (r, i) {
      r.querySelector('.rule-index').textContent = i + 1;
      r.querySelector('.js-move[value^="up:"]').disabled = i === 0;
      r.querySelector('.js-move[value^="down:"]').disabled = i === all.length - 1;
      if (r === moved) at = i + 1;
    });
    form.classList.add('changed');
    if (said && moved) {
      said.textContent = moved.dataset.rule + ' is now rule ' + at + ' of ' + all.length +
        '. Save the order to put it in force.';
    }
  }

  form.addEventListener('click', function (e) {
    var b = e.target.closest('.js-move');
    if (!b) return;
    e.preventDefault();
    var row = b.closest('tr'), up = b.value.indexOf('up:') === 0;
    if (up && row.previousElementSibling) body.insertBefore(row, row.previousElementSibling);
    if (!up && row.nextElementSibling) body.insertBefore(row.nextElementSibling, row);
    renumber(row);
    // Keep the keyboard on the row that moved, even once it reaches an end.
    (b.disabled ? row.querySelector('.js-move:not([disabled])') : b).focus();
  });

  body.addEventListener('dragstart', function (e) {
    dragged = e.target.closest('tr[data-rule]');
    if (!dragged) return;
    dragged.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', dragged.dataset.rule);
  });
  body.addEventListener('dragover', function (e) {
    if (!dragged) return;
    e.preventDefault();
    var over = e.target.closest('tr[data-rule]');
    if (!over || over === dragged) return;
    var box = over.getBoundingClientRect();
    body.insertBefore(dragged, e.clientY > box.top + box.height / 2 ? over.nextElementSibling : over);
  });
  body.addEventListener('drop', function (e) {
    if (dragged) e.preventDefault();
  });
  body.addEventListener('dragend', function () {
    if (!dragged) return;
    dragged.classList.remove('dragging');
    renumber(dragged);
    dragged = null;
  });
})();

// A label printed from the pack bench opens by itself for the printer; the link stays for
// a reprint (and for browsers that block the new tab).
(function () {
  'use strict';
  function openLabels(root) {
    root.querySelectorAll('a[data-open-once]').forEach(function (a) {
      a.removeAttribute('data-open-once');
      window.open(a.href, '_blank', 'noopener');
    });
  }
  openLabels(document);
  document.addEventListener('htmx:afterSettle', function (e) { openLabels(e.target); });
})();
