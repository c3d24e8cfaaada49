from workers.api.handler import main

main()
