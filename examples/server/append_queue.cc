#include "append_queue.h"

#include <cstring>

namespace samsa_server {
namespace {

AppendOutcome outcome_of(const samsa::Result<samsa::PartitionAppendResult>& r) {
  AppendOutcome out;
  if (!r.ok()) {
    out.status = r.status();
    return out;
  }
  out.duplicate = r->duplicate;
  out.base_offset = r->info.first_offset.value();
  out.log_append_time_ms = r->info.log_append_time.value();
  out.log_start_offset = r->log_start_offset.value();
  return out;
}

}  // namespace

AppendQueue::AppendQueue(samsa::Partition& partition, WorkPool& pool,
                         std::function<void()> appended)
    : partition_(partition),
      leader_epoch_(partition.latest_epoch().value_or(samsa::LeaderEpoch(0)).value()),
      pool_(pool),
      appended_(std::move(appended)) {}

void AppendQueue::push(AppendJob job) {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
    start = !draining_;
    draining_ = true;
  }
  if (start && !pool_.post([this] { drain(); })) {
    // Shutting down: nothing will append these; answer them.
    std::lock_guard lock(mu_);
    for (AppendJob& j : queue_) {
      j.done(AppendOutcome{samsa::Status::failed_precondition("server shutting down")});
    }
    queue_.clear();
  }
}

std::vector<AppendJob> AppendQueue::take_some() {
  std::lock_guard lock(mu_);
  std::vector<AppendJob> jobs;
  std::size_t bytes = 0;
  while (!queue_.empty() &&
         (jobs.empty() || bytes + queue_.front().batch.size() <= kMaxCoalescedBytes)) {
    bytes += queue_.front().batch.size();
    jobs.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (jobs.empty()) draining_ = false;
  return jobs;
}

void AppendQueue::drain() {
  while (true) {
    std::vector<AppendJob> jobs = take_some();
    if (jobs.empty()) return;
    std::vector<AppendJob*> plain;
    for (AppendJob& job : jobs) {
      if (!job.idempotent) {
        plain.push_back(&job);
        continue;
      }
      append_plain(plain);
      append_one(job);
    }
    append_plain(plain);
    appended_();
  }
}

void AppendQueue::append_one(AppendJob& job) {
  job.done(outcome_of(partition_.append(job.batch, leader_epoch())));
}

void AppendQueue::append_plain(std::vector<AppendJob*>& run) {
  if (run.empty()) return;
  if (run.size() == 1) {
    append_one(*run.front());
    run.clear();
    return;
  }
  std::size_t total = 0;
  for (AppendJob* job : run) total += job->batch.size();
  std::vector<std::byte> combined(total);
  std::size_t at = 0;
  for (AppendJob* job : run) {
    std::memcpy(combined.data() + at, job->batch.data(), job->batch.size());
    at += job->batch.size();
  }
  auto result = partition_.append(combined, leader_epoch());
  if (!result.ok()) {
    // One bad batch refuses the whole append before anything is written: append them one
    // by one so each gets its own answer.
    for (AppendJob* job : run) append_one(*job);
    run.clear();
    return;
  }
  AppendOutcome out = outcome_of(result);
  at = 0;
  for (AppendJob* job : run) {
    // The log stamped each batch's base offset in place.
    out.base_offset = samsa::get_be<std::int64_t>(combined.data() + at);
    at += job->batch.size();
    job->done(out);
  }
  run.clear();
}

}  // namespace samsa_server
