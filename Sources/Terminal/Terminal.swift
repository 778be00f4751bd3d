/// Terminal module.
