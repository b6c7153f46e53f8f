from rmmctl.cli import main

main()
