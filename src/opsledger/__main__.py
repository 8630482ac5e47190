from opsledger.cli import main

main()
