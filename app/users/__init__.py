"""People who log into the console (người dùng): accounts with argon2id passwords, signed session
cookies with their CSRF tokens, and login throttling. Machines keep using bearer credentials
(`app.auth`); `app.auth.deps` accepts either for the admin API."""
