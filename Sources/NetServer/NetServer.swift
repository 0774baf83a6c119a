// NetServer
