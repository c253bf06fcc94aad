// Command app is the fixture program of the builder tests, run in FROM
// scratch images: as a RUN step of a build and as a test command.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: app hello|env NAME...|exit CODE|sleep SECONDS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "hello":
		fmt.Println("hello from stdout")
		fmt.Fprintln(os.Stderr, "hello from stderr")
	case "env":
		for _, name := range os.Args[2:] {
			fmt.Printf("%s=%s\n", name, os.Getenv(name))
		}
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Printf("exiting with %d\n", code)
		os.Exit(code)
	case "sleep":
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("sleeping")
		time.Sleep(time.Duration(n) * time.Second)
		fmt.Println("woke up")
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}
