"""Who may do what: column-level access rights per role (``access``) and the pricing plan's caps
(``plans``)."""
