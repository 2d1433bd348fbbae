"""Identity: access with meter + partner number + e-mail, confirmation, password, login per partner number."""
