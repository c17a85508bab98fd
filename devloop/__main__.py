from devloop.entry import main

main()
