"""Cloud infrastructure definitions: provider, region, config and encrypted secrets."""
