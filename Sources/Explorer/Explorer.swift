/// Explorer module.
