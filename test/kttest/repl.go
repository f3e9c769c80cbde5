package kttest

import (
	"fmt"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

const (
	// replBatch is how many log events one read takes.
	replBatch = 256
	// fillerEvery is how many records withheld in a row make the master
	// send an empty record, so that a filtered client can move on.
	fillerEvery = 256
	// replIdle is how long the master waits after an acknowledged NOP
	// before it looks at the log again, unless a write wakes it earlier.
	replIdle = 100 * time.Millisecond
	// replAckTimeout bounds the wait for a NOP acknowledgement (KT's
	// default -tout).
	replAckTimeout = 30 * time.Second
	// ulogHeaderSize and ulogRecordExtra give the on-disk size of KT's log
	// file: a 17-byte header, and per record a marker, ts, size and end
	// marker around the message.
	ulogHeaderSize  = 17
	ulogRecordExtra = 1 + 8 + 4 + 1
)

// logMessage encodes an event as a KT update-log message: origin sid, db
// index, op and payload. USET values carry the 5-byte absolute xt. ok is
// false for events KT would not log.
func (s *Server) logMessage(dst []byte, e *backend.Event) (msg []byte, ok bool) {
	// KT purges expired records without logging them.
	if e.Command == "expire" {
		return nil, false
	}
	db := s.dbIndexByName(e.DB)
	if db < 0 {
		return nil, false
	}
	m := ktwire.Message{SID: uint16(e.OriginSID), DB: uint16(db), Key: e.Key}
	switch e.Op {
	case backend.OpSet:
		m.Op = ktwire.OpSet
		m.Value = append(ktwire.AppendXTPrefix(make([]byte, 0, 5+len(e.Value)), xtOf(e.ExpireTime)), e.Value...)
	case backend.OpRemove:
		m.Op = ktwire.OpRemove
	case backend.OpClear:
		m.Op = ktwire.OpClear
	default:
		return nil, false
	}
	return ktwire.AppendMessage(dst, m), true
}

// pureClock is KT's update-log clock without the counter: milliseconds
// times 10^6.
func pureClock(now time.Time) uint64 {
	return uint64(max(now.UnixMilli(), 0)) * 1_000_000
}

// binReplication serves a replication stream: the records after the
// requested ts (exclusive), filtered by server id, then NOPs that the
// client must acknowledge with 0xB1, for as long as the connection lives.
func (c *conn) binReplication() bool {
	flags, ts, sid, err := ktwire.ReadReplicationRequest(c.r)
	if err != nil {
		return false
	}
	s := c.srv
	if !s.ulog {
		c.w.WriteByte(ktwire.MagicError)
		return false
	}
	white := flags&ktwire.FlagWhiteSID != 0
	s.replsAdded(1)
	defer s.replsAdded(-1)
	c.w.WriteByte(ktwire.MagicReplication)
	var msg []byte
	pos, maxRead, withheld := ts, uint64(0), 0
	for {
		events, wake, err := s.ulogReader.ReadLog(s.ctx, pos, replBatch)
		if err != nil {
			return false
		}
		// A change in a removed file is gone: the stream starts at the
		// oldest one left, and nothing tells the client.
		removed, _ := s.ulogRemoved()
		for i := range events {
			e := &events[i]
			pos, maxRead = e.Position, e.Position
			if e.Position <= removed {
				continue
			}
			var ok bool
			if msg, ok = s.logMessage(msg[:0], e); !ok {
				continue
			}
			if (uint16(e.OriginSID) == sid) != white {
				if withheld++; withheld == fillerEvery {
					c.writeReplFrame(ktwire.Frame{Kind: ktwire.FrameFiller, TS: e.Position})
					withheld = 0
				}
				continue
			}
			withheld = 0
			c.writeReplFrame(ktwire.Frame{Kind: ktwire.FrameData, TS: e.Position, Message: msg})
		}
		if len(events) == replBatch {
			if c.w.Flush() != nil {
				return false
			}
			continue
		}
		// Caught up: a NOP, whose ts trails the clock by a second but never
		// falls behind what this stream has read.
		nop := max(pureClock(s.now())-1_000_000_000, maxRead)
		c.writeReplFrame(ktwire.Frame{Kind: ktwire.FrameNOP, TS: nop})
		if c.w.Flush() != nil {
			return false
		}
		c.nc.SetReadDeadline(time.Now().Add(replAckTimeout))
		ack, err := c.r.ReadByte()
		c.nc.SetReadDeadline(time.Time{})
		if err != nil || ack != ktwire.NOPAck {
			return false
		}
		idle := time.NewTimer(replIdle)
		select {
		case <-wake:
		case <-idle.C:
		case <-s.ctx.Done():
			idle.Stop()
			return false
		}
		idle.Stop()
	}
}

// writeReplFrame writes a frame of the replication stream.
func (c *conn) writeReplFrame(f ktwire.Frame) {
	c.w.Write(ktwire.AppendFrame(c.w.AvailableBuffer(), f))
}

// ulogFile is one file of the modelled update log.
type ulogFile struct {
	id    int
	size  int64
	maxTS uint64
}

// path is the name ulog_list reports for the file.
func (f ulogFile) path() string { return fmt.Sprintf("ulog/%010d.ulog", f.id) }

// ulogRemoved returns the newest position of the changes no longer in the
// log (0: none) and the number of the oldest file left. Changes the store
// dropped to stay within its bounds count as removed files too.
func (s *Server) ulogRemoved() (removedTS uint64, firstID int) {
	s.ulogMu.Lock()
	removedTS, firstID = s.ulogRemovedTS, max(s.ulogFirstID, 1)
	s.ulogMu.Unlock()
	if dropped := s.store.LogStats().Dropped; dropped > removedTS {
		removedTS, firstID = dropped, max(firstID, 2)
	}
	return removedTS, firstID
}

// ulogFiles splits the retained update log into KT's files: a 17-byte
// header, then per logged change a marker, ts, size and end marker around
// the message; a file is closed once it reaches ulim bytes.
func (s *Server) ulogFiles() ([]ulogFile, error) {
	pos, id := s.ulogRemoved()
	files := []ulogFile{{id: id, size: ulogHeaderSize}}
	var msg []byte
	for {
		events, _, err := s.ulogReader.ReadLog(s.ctx, pos, replBatch)
		if err != nil {
			return nil, err
		}
		for i := range events {
			e := &events[i]
			pos = e.Position
			var ok bool
			if msg, ok = s.logMessage(msg[:0], e); !ok {
				continue
			}
			cur := &files[len(files)-1]
			if s.ulim > 0 && cur.size >= s.ulim {
				files = append(files, ulogFile{id: cur.id + 1, size: ulogHeaderSize})
				cur = &files[len(files)-1]
			}
			cur.size += int64(ulogRecordExtra + len(msg))
			cur.maxTS = e.Position
		}
		if len(events) < replBatch {
			return files, nil
		}
	}
}

// removeUlogs deletes the files whose newest change is at or before ts,
// except the newest file, as ulog_remove does.
func (s *Server) removeUlogs(ts uint64) error {
	files, err := s.ulogFiles()
	if err != nil {
		return err
	}
	s.ulogMu.Lock()
	defer s.ulogMu.Unlock()
	for _, f := range files[:len(files)-1] {
		if f.maxTS > ts {
			break
		}
		s.ulogRemovedTS, s.ulogFirstID = max(s.ulogRemovedTS, f.maxTS), f.id+1
	}
	return nil
}
