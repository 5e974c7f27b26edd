// The console's few behaviours, without inline scripts (the pages' CSP forbids them):
// confirmation dialogs, and "select all" for the rows of a table.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog) {
      const bulk = document.getElementById("bulk");
      if (bulk && dialog.id.startsWith("bulk-")) {
        // The ticked rows travel with the dialog's form.
        const form = dialog.querySelector("form");
        form.querySelectorAll("input[data-copied]").forEach((input) => input.remove());
        bulk.querySelectorAll("input[name=ids]:checked").forEach((box) => {
          const copy = document.createElement("input");
          copy.type = "hidden"; copy.name = "ids"; copy.value = box.value; copy.dataset.copied = "1";
          form.appendChild(copy);
        });
      }
      dialog.showModal();
    }
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) closer.closest("dialog").close();
});

document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (all) {
    const form = all.closest("form");
    form.querySelectorAll(`input[name="${all.dataset.selectAll}"]`).forEach((box) => { box.checked = all.checked; });
  }
});
