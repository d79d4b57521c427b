// Placeholder until the module is written; delete when the first real file lands.
