"""The meal's control loop in its own process, apart from the web server (issue 17 item 4).

`messages`: the small message protocol between the two processes, every message validated;
`worker`: the controller process (`controller.loop.run_meal` over the servo port);
`runner`: the web server's side (`ControllerProcess`: start, commands, journal events back).
"""
