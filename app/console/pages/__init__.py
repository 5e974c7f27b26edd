"""One module per thing operators look at; `app.console.PAGES` registers them."""
