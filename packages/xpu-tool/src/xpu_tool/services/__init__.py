"""Service checks: each AI service end to end (one package each, listed by ``registry``), and the models they need."""
