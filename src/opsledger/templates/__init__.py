"""Job templates: a saved launch (playbook, host selector, variables, options, prompts)."""
