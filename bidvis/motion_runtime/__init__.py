"""The arm's loops in processes of their own, apart from the web server (issue 17 item 4, issue 13
item 7): the meal's control loop, and the staff page's set-up loop.

`messages`: the small message protocol between the processes, every message validated;
`pipe`: one end of a pipe of those messages (sending, receiving, the heartbeat and its silence);
`worker`: the controller process (`controller.loop.run_meal` over the servo port);
`runner`: the web server's side (`ControllerProcess`: start, commands, journal events back);
`setup_worker`, `setup_messages`, `setup_runner`: the set-up process (`ArmDriver` over the servo
port), its messages, and the web server's side (`ArmProcess`, which `ArmControl` uses);
`servo_port`: how every loop opens the port; `wall_clock`: the loops' clock.
"""
