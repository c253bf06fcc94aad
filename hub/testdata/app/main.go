// Command app is the program of the autotest fixture image (FROM scratch):
//
//	serve PORT           answers "pong" to every TCP connection
//	client ADDR          prints $SOURCE_BRANCH, then connects to ADDR (retrying
//	                     for 30s) and exits 0 once it reads "pong"
//	probe ADDR           exits 0 when ADDR answers "pong" (a healthcheck)
//	write FILE TEXT      writes TEXT to FILE
//	check FILE TEXT      exits 0 when FILE holds TEXT
//	sleep DURATION       sleeps
//	fail                 prints a line with $REASON and exits 1
//	(none)               prints hello
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("hello from the image under test")
		return
	}
	switch os.Args[1] {
	case "serve":
		l, err := net.Listen("tcp", ":"+os.Args[2])
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(2)
		}
		fmt.Println("listening on", os.Args[2])
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(2)
			}
			fmt.Fprintln(c, "pong")
			c.Close()
		}
	case "client":
		fmt.Println("SOURCE_BRANCH=" + os.Getenv("SOURCE_BRANCH"))
		deadline := time.Now().Add(30 * time.Second)
		for {
			if ping(os.Args[2]) == nil {
				fmt.Println("pong received from", os.Args[2])
				return
			}
			if time.Now().After(deadline) {
				fmt.Println("no pong from", os.Args[2])
				os.Exit(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	case "probe":
		if err := ping(os.Args[2]); err != nil {
			os.Exit(1)
		}
	case "write":
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644); err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", os.Args[2])
	case "check":
		b, err := os.ReadFile(os.Args[2])
		if err != nil || string(b) != os.Args[3] {
			fmt.Printf("check %s: %q, %v\n", os.Args[2], b, err)
			os.Exit(1)
		}
		fmt.Println("check ok")
	case "sleep":
		d, _ := time.ParseDuration(os.Args[2])
		fmt.Println("sleeping", d)
		time.Sleep(d)
	case "fail":
		fmt.Println("failing on purpose", os.Getenv("REASON"))
		os.Exit(1)
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "pong\n" {
		return fmt.Errorf("got %q", line)
	}
	return nil
}
