"""The `foleygan` command line: LightningCLI for training, small subcommands for the rest."""
