from perfgate.cli import main_exit

main_exit()
