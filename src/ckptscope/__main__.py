from ckptscope.cli.app import main

main()
