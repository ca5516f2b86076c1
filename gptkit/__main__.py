from gptkit.cli.main import main

main()
